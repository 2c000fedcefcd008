using System.Data.Common;
using System.Xml.Linq;
using TestDbKit.Tests.Common;
using TestDbKit.Xunit;
#if !XUNIT_V3
using Xunit.Abstractions;
#endif

namespace TestDbKit.Xunit.Tests
{
    /// <summary>
    /// A class configures the base from code (<c>Configure</c>): its pool has the MaxDatabases it asked for and its
    /// connections the driver option it added. A sibling with the same schema and no <c>Configure</c> keeps the
    /// defaults: options are part of the pool's key, so neither sees the other's pool.
    /// </summary>
    public abstract class ConfiguredFromCode(DbEngine engine) : ResilientDbTestBase(engine)
    {
        protected override Task CreateSchemaAsync(DbConnection connection) => Health.CreateItemsAsync(connection, Engine);
    }

    public abstract class ConfiguredTests(DbEngine engine) : ConfiguredFromCode(engine)
    {
        protected override void Configure(TestDbOptions options)
        {
            Assert.Equal(Engine, options.Engine);
            options.MaxDatabases = 1;
            ConfiguredConnections.AddDriverOption(options);
        }

        [Fact]
        public void The_pool_has_the_MaxDatabases_the_class_asked_for()
        {
            Assert.Equal(1, Database.Pool.MaxDatabases);
            Assert.Equal(0, Database.Pool.FreeLeases); // this test holds the one database
        }

        [Fact]
        public Task The_driver_option_reaches_every_connection_of_the_test() =>
            ConfiguredConnections.ExpectDriverOptionAsync(Database, Connection);
    }

    public abstract class UnconfiguredTests(DbEngine engine) : ConfiguredFromCode(engine)
    {
        [Fact]
        public void The_same_schema_without_Configure_keeps_the_defaults()
        {
            Assert.Equal(Math.Max(4, Environment.ProcessorCount * 2), Database.Pool.MaxDatabases);
            Assert.DoesNotContain(ConfiguredConnections.Zone, Database.ConnectionString, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("AllowUserVariables", Database.ConnectionString, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("Allow User Variables", Database.ConnectionString, StringComparison.OrdinalIgnoreCase);
        }
    }

    public sealed class PostgresConfiguredTests() : ConfiguredTests(DbEngine.PostgreSql);
    public sealed class MySqlConfiguredTests() : ConfiguredTests(DbEngine.MySql);
    public sealed class PostgresUnconfiguredTests() : UnconfiguredTests(DbEngine.PostgreSql);
    public sealed class MySqlUnconfiguredTests() : UnconfiguredTests(DbEngine.MySql);

    /// <summary>
    /// What the kit says about a test reaches xunit's own test output (on xunit v2 when the class takes an
    /// <see cref="ITestOutputHelper"/>; on xunit v3 always) and names the test, with its arguments: the probes leak a
    /// connection (in a child run), and the kit's report of it must be in that test's output in the TRX, not only on
    /// the test host's standard error, under the test's full name; the child's run report names the test too.
    /// </summary>
    public sealed class KitOutputTests
    {
        private const string Probes = "TestDbKit.Xunit.Tests.OutputProbes.";

        [Fact]
        public async Task The_kits_report_is_in_the_tests_own_output_and_names_the_test()
        {
            var reports = Directory.CreateTempSubdirectory("tdk-child-report-");
            try
            {
                await RunTheProbesAsync(reports.FullName);
            }
            finally
            {
                reports.Delete(recursive: true);
            }
        }

        private static async Task RunTheProbesAsync(string reportDir)
        {
            var (results, output) = await ChildTestRuns.RunAsync(typeof(KitOutputTests).Assembly.Location, "FullyQualifiedName~" + Probes, TimeSpan.FromMinutes(3),
                document => document.Descendants(ChildTestRuns.Trx + "UnitTestResult")
                    .Select(r => new XElement("test-output", $"TEST OUTPUT of {(string?)r.Attribute("testName")}:\n" + string.Concat(r.Descendants(ChildTestRuns.Trx + "StdOut").Select(e => e.Value)))),
                new Dictionary<string, string> { ["TESTDBKIT_REPORT_DIR"] = reportDir });
            var runReport = string.Concat(Directory.GetFiles(reportDir, "*.txt").Select(File.ReadAllText));
            var context = $"child run:\n{output}\nits run report:\n{runReport}";
            string[] probes =
            [
                "PostgresOutputProbe.Leaks_and_the_kit_says_so",
                "PostgresOutputProbe.Leaks_with_an_argument(table: \"items\", count: 7)",
#if XUNIT_V3
                "PostgresContextOutputProbe.Leaks_and_the_kit_says_so", // no ITestOutputHelper: v3's test context
#endif
            ];
            Assert.Equal(probes.Length, results.Count);
            foreach (var probe in probes)
            {
                var result = Assert.Single(results, r => r.Name.EndsWith(probe, StringComparison.Ordinal));
                Assert.True(result.Outcome == "Passed", $"the probe {probe} should pass (the leak is only reported): {result.Message}\n{context}");
                var start = output.IndexOf($"TEST OUTPUT of {result.Name}:\n", StringComparison.Ordinal);
                Assert.True(start >= 0, $"no output of {result.Name} in the TRX\n{context}");
                var end = output.IndexOf("TEST OUTPUT of ", start + 1, StringComparison.Ordinal);
                var testOutput = output[start..(end < 0 ? output.Length : end)];
                Assert.True(testOutput.Contains($"[TestDbKit] {Probes}{probe}: left 1 connection(s) open", StringComparison.Ordinal),
                    $"the kit's leak report naming {Probes}{probe} is not in the test's own output\n{context}");
                Assert.True(runReport.Contains($"Leak: {Probes}{probe}: left 1 connection(s) open", StringComparison.Ordinal),
                    $"the run report does not name {Probes}{probe} among the leaks\n{context}");
            }
        }
    }
}

namespace TestDbKit.Xunit.Tests.OutputProbes
{
    /// <summary>Leaks a connection so the kit has something to say; runs only in the child run of <see cref="KitOutputTests"/>.</summary>
    public sealed class PostgresOutputProbe(ITestOutputHelper output) : ResilientDbTestBase(output, DbEngine.PostgreSql)
    {
        [ChildRunFact]
        public Task Leaks_and_the_kit_says_so() => LeakingTests.LeakAConnectionTheKitHandedOutAsync(Database);

        [ChildRunTheory]
        [InlineData("items", 7)]
        public Task Leaks_with_an_argument(string table, int count) =>
            table.Length + count > 0 ? LeakingTests.LeakAConnectionTheKitHandedOutAsync(Database) : Task.CompletedTask;
    }
#if XUNIT_V3

    /// <summary>The same on xunit v3 without an ITestOutputHelper: the kit finds the test's output and name in its context.</summary>
    public sealed class PostgresContextOutputProbe() : ResilientDbTestBase(DbEngine.PostgreSql)
    {
        [ChildRunFact]
        public Task Leaks_and_the_kit_says_so() => LeakingTests.LeakAConnectionTheKitHandedOutAsync(Database);
    }
#endif
}
