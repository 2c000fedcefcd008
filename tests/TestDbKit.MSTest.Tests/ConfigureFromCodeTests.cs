using System.Data.Common;
using System.Xml.Linq;
using TestDbKit.MSTest;
using TestDbKit.Tests.Common;

namespace TestDbKit.MSTest.Tests
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
            Assert.AreEqual(Engine, options.Engine);
            options.MaxDatabases = 1;
            ConfiguredConnections.AddDriverOption(options);
        }

        [TestMethod]
        public void The_pool_has_the_MaxDatabases_the_class_asked_for()
        {
            Assert.AreEqual(1, Database.Pool.MaxDatabases);
            Assert.AreEqual(0, Database.Pool.FreeLeases, "this test holds the one database");
        }

        [TestMethod]
        public Task The_driver_option_reaches_every_connection_of_the_test() =>
            ConfiguredConnections.ExpectDriverOptionAsync(Database, Connection);
    }

    // MaxDatabases = 1: the class's tests wait for the one database in turn; they run alone so that no test waits long.
    [TestClass, DoNotParallelize]
    public sealed class PostgreSqlConfiguredTests() : ConfiguredTests(DbEngine.PostgreSql);

    [TestClass, DoNotParallelize]
    public sealed class MySqlConfiguredTests() : ConfiguredTests(DbEngine.MySql);

    public abstract class UnconfiguredTests(DbEngine engine) : ConfiguredFromCode(engine)
    {
        [TestMethod]
        public void The_same_schema_without_Configure_keeps_the_defaults()
        {
            Assert.AreEqual(Math.Max(4, Environment.ProcessorCount * 2), Database.Pool.MaxDatabases);
            Assert.DoesNotContain(ConfiguredConnections.Zone, Database.ConnectionString, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("AllowUserVariables", Database.ConnectionString, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("Allow User Variables", Database.ConnectionString, StringComparison.OrdinalIgnoreCase);
        }
    }

    [TestClass]
    public sealed class PostgreSqlUnconfiguredTests() : UnconfiguredTests(DbEngine.PostgreSql);

    [TestClass]
    public sealed class MySqlUnconfiguredTests() : UnconfiguredTests(DbEngine.MySql);

    /// <summary>
    /// What the kit says about a test reaches MSTest's own output for that test (<c>TestContext.WriteLine</c>), and
    /// names the test: class and method, with a data row's arguments. The probes leak a connection (in a child run);
    /// the kit's report of it must be in that test's standard output in the TRX.
    /// </summary>
    [TestClass]
    public sealed class KitOutputTests
    {
        [TestMethod]
        public async Task The_kits_report_is_in_the_tests_own_output_and_names_the_test_method()
        {
            var (results, output) = await ChildTestRuns.RunAsync(typeof(KitOutputTests).Assembly.Location, "FullyQualifiedName~TestDbKit.MSTest.Tests.OutputProbes.", TimeSpan.FromMinutes(3),
                document => document.Descendants(ChildTestRuns.Trx + "UnitTestResult")
                    .Select(r => new XElement("test-output", $"TEST OUTPUT of {(string?)r.Attribute("testName")}:\n" + string.Concat(r.Descendants(ChildTestRuns.Trx + "StdOut").Select(e => e.Value)))));
            var context = $"child run:\n{output}";
            var plain = ChildTestRun.Single(results, "OutputProbe.Leaks_and_the_kit_says_so", context);
            Assert.AreEqual("Passed", plain.Outcome, $"the probe should pass (the leak is only reported): {plain.Message}\n{context}");
            var at = output.IndexOf("TEST OUTPUT of Leaks_and_the_kit_says_so:\n", StringComparison.Ordinal);
            Assert.IsGreaterThanOrEqualTo(0, at, $"the probe's result has no standard output in the TRX\n{context}");
            Assert.Contains("[TestDbKit] TestDbKit.MSTest.Tests.OutputProbes.OutputProbe.Leaks_and_the_kit_says_so: left 1 connection(s) open", output[at..],
                $"the kit's leak report is not in the test's own output\n{context}");
            Assert.Contains("[TestDbKit] TestDbKit.MSTest.Tests.OutputProbes.OutputProbe.Leaks_in_a_data_row (7): left 1 connection(s) open", output,
                $"the leak report of a data row does not name the row\n{context}");
        }
    }
}

namespace TestDbKit.MSTest.Tests.OutputProbes
{
    /// <summary>Leaks a connection so the kit has something to say; runs only in the child run of <see cref="KitOutputTests"/>.</summary>
    [TestClass, ChildRunOnly]
    public sealed class OutputProbe : ResilientDbTestBase
    {
        [TestMethod]
        public Task Leaks_and_the_kit_says_so() => LeakingTests.LeakAConnectionTheKitHandedOutAsync(Database);

        [TestMethod, DataRow(7)]
        public Task Leaks_in_a_data_row(int row) => LeakingTests.LeakAConnectionTheKitHandedOutAsync(Database);
    }
}
