using TestDbKit.Tests.Common;

namespace TestDbKit.NUnit.Tests;

/// <summary>The run report names the test and engine of each fault, client error and recovery of its body.</summary>
[TestFixture(DbEngine.PostgreSql)]
[TestFixture(DbEngine.MySql)]
[Parallelizable(ParallelScope.All)]
public sealed class ReportNamesTests(DbEngine engine) : ResilientDbTestBase(engine)
{
    [Test]
    public Task The_report_names_this_test_and_its_engine() =>
        ReportNamesChecks.InTheBodyAsync(TestContext.CurrentContext.Test.FullName, Engine, Database, Connection);

    [Test]
    public Task A_second_test_running_beside_it_is_named_too() =>
        ReportNamesChecks.InTheBodyAsync(TestContext.CurrentContext.Test.FullName, Engine, Database, Connection);
}
