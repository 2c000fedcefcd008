using TestDbKit.Tests.Common;
#if XUNIT_V3
using Xunit;
#else
using Xunit.Abstractions;
#endif

namespace TestDbKit.Xunit.Tests;

/// <summary>The run report names the test and engine of each fault, client error and recovery of its body.</summary>
public abstract class ReportNamesTests(DbEngine engine, ITestOutputHelper output) : ResilientDbTestBase(output, engine)
{
    [Fact]
    public Task The_report_names_this_test_and_its_engine() =>
        ReportNamesChecks.InTheBodyAsync($"{GetType().FullName}.{nameof(The_report_names_this_test_and_its_engine)}", Engine, Database, Connection);
}

public sealed class PostgreSqlReportNames(ITestOutputHelper output) : ReportNamesTests(DbEngine.PostgreSql, output);

public sealed class MySqlReportNames(ITestOutputHelper output) : ReportNamesTests(DbEngine.MySql, output);
