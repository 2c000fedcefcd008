using TestDbKit.Tests.Common;

namespace TestDbKit.MSTest.Tests;

/// <summary>The run report names the test and engine of each fault, client error and recovery of its body.</summary>
public abstract class ReportNamesTests(DbEngine engine) : ResilientDbTestBase(engine)
{
    [TestMethod]
    public Task The_report_names_this_test_and_its_engine() =>
        ReportNamesChecks.InTheBodyAsync($"{TestContext.FullyQualifiedTestClassName}.{TestContext.TestDisplayName ?? TestContext.TestName}", Engine, Database, Connection);
}

[TestClass]
public sealed class PostgreSqlReportNames() : ReportNamesTests(DbEngine.PostgreSql);

[TestClass]
public sealed class MySqlReportNames() : ReportNamesTests(DbEngine.MySql);
