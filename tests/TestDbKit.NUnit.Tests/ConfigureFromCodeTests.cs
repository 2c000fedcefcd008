using System.Data.Common;
using System.Xml.Linq;
using TestDbKit.NUnit;
using TestDbKit.Tests.Common;

namespace TestDbKit.NUnit.Tests
{
    /// <summary>
    /// A fixture configures the base from code (<c>Configure</c>): its pool has the MaxDatabases it asked for and its
    /// connections the driver option it added. A sibling with the same schema and no <c>Configure</c> keeps the
    /// defaults: options are part of the pool's key, so neither sees the other's pool.
    /// </summary>
    public abstract class ConfiguredFromCode(DbEngine engine) : ResilientDbTestBase(engine)
    {
        protected override Task CreateSchemaAsync(DbConnection connection) => Health.CreateItemsAsync(connection, Engine);
    }

    [TestFixture(DbEngine.PostgreSql)]
    [TestFixture(DbEngine.MySql)]
    public sealed class ConfiguredTests(DbEngine engine) : ConfiguredFromCode(engine)
    {
        protected override void Configure(TestDbOptions options)
        {
            Assert.That(options.Engine, Is.EqualTo(Engine));
            options.MaxDatabases = 1;
            ConfiguredConnections.AddDriverOption(options);
        }

        [Test]
        public void The_pool_has_the_MaxDatabases_the_fixture_asked_for()
        {
            Assert.That(Database.Pool.MaxDatabases, Is.EqualTo(1));
            Assert.That(Database.Pool.FreeLeases, Is.Zero, "this test holds the one database");
        }

        [Test]
        public Task The_driver_option_reaches_every_connection_of_the_test() =>
            ConfiguredConnections.ExpectDriverOptionAsync(Database, Connection);
    }

    [TestFixture(DbEngine.PostgreSql)]
    [TestFixture(DbEngine.MySql)]
    public sealed class UnconfiguredTests(DbEngine engine) : ConfiguredFromCode(engine)
    {
        [Test]
        public void The_same_schema_without_Configure_keeps_the_defaults()
        {
            Assert.That(Database.Pool.MaxDatabases, Is.EqualTo(Math.Max(4, Environment.ProcessorCount * 2)));
            Assert.That(Database.ConnectionString, Does.Not.Contain(ConfiguredConnections.Zone).IgnoreCase);
            Assert.That(Database.ConnectionString, Does.Not.Contain("AllowUserVariables").IgnoreCase);
            Assert.That(Database.ConnectionString, Does.Not.Contain("Allow User Variables").IgnoreCase);
        }
    }

    /// <summary>
    /// What the kit says about a test reaches NUnit's own output for that test (<c>TestContext.Out</c>): the probe
    /// leaks a connection (in a child run), and the kit's report of it must be in that test's standard output in
    /// the TRX (before, it went to standard error).
    /// </summary>
    public sealed class KitOutputTests
    {
        [Test]
        public async Task The_kits_report_is_in_the_tests_own_output()
        {
            const string probe = "Leaks_and_the_kit_says_so";
            var (results, output) = await ChildTestRuns.RunAsync(typeof(KitOutputTests).Assembly.Location, "FullyQualifiedName~TestDbKit.NUnit.Tests.OutputProbes.", TimeSpan.FromMinutes(3),
                document => document.Descendants(ChildTestRuns.Trx + "UnitTestResult")
                    .Where(r => ((string?)r.Attribute("testName") ?? "").Contains(probe, StringComparison.Ordinal))
                    .Descendants(ChildTestRuns.Trx + "StdOut")
                    .Select(e => new XElement("test-output", "TEST OUTPUT:\n" + e.Value)));
            var context = $"child run:\n{output}";
            var result = results.Single(r => r.Name.Contains(probe, StringComparison.Ordinal));
            Assert.That(result.Outcome, Is.EqualTo("Passed"), $"the probe should pass (the leak is only reported): {result.Message}\n{context}");
            var at = output.IndexOf("TEST OUTPUT:\n", StringComparison.Ordinal);
            Assert.That(at, Is.GreaterThanOrEqualTo(0), $"the probe's result has no standard output in the TRX\n{context}");
            Assert.That(output[at..], Does.Contain("[TestDbKit] TestDbKit.NUnit.Tests.OutputProbes.OutputProbe.Leaks_and_the_kit_says_so: left 1 connection(s) open"),
                $"the kit's leak report is not in the test's own output\n{context}");
        }
    }
}

namespace TestDbKit.NUnit.Tests.OutputProbes
{
    /// <summary>Leaks a connection so the kit has something to say; runs only in the child run of <see cref="KitOutputTests"/>.</summary>
    [ChildRunOnly]
    public sealed class OutputProbe : ResilientDbTestBase
    {
        [Test]
        public Task Leaks_and_the_kit_says_so() => LeakingTests.LeakAConnectionTheKitHandedOutAsync(Database);
    }
}
