using System.Data.Common;
using TestDbKit.NUnit;
using TestDbKit.Tests.Common;

namespace TestDbKit.NUnit.Tests
{
    /// <summary>
    /// [FailOnConnectionLeak] turns a leak into the failure of the test that leaked. The probes leak on purpose,
    /// so they run in a child <c>dotnet test</c> (ignored here), and this test reads the child's results: the
    /// leaking tests of a marked fixture fail, naming the test and the count; the same tests on a fixture
    /// without the attribute pass (the leak is only reported), and a test that leaks nothing passes.
    /// </summary>
    public sealed class FailOnConnectionLeakTests
    {
        [Test]
        public async Task A_marked_fixture_fails_the_tests_that_leak_and_only_those()
        {
            var (results, output) = await ChildTestRun.RunAsync("FullyQualifiedName~TestDbKit.NUnit.Tests.LeakProbes.", TimeSpan.FromMinutes(4));
            var context = $"child run:\n{output}";
            foreach (var engine in new[] { "PostgreSql", "MySql" })
            {
                foreach (var leak in new[] { "Leaks_a_connection_the_kit_handed_out", "Leaks_a_connection_it_opened_itself" })
                {
                    var failed = Single(results, $"LeakFails({engine}).{leak}", context);
                    Assert.That(failed.Outcome, Is.EqualTo("Failed"), $"{failed.Name} should fail\n{context}");
                    Assert.That(failed.Message, Does.Contain(nameof(ConnectionLeakException)));
                    Assert.That(failed.Message, Does.Contain($"LeakFails({engine}).{leak}: left 1 connection(s) open"));

                    var reported = Single(results, $"LeakReported({engine}).{leak}", context);
                    Assert.That(reported.Outcome, Is.EqualTo("Passed"), $"{reported.Name} should pass without the attribute: {reported.Message}\n{context}");
                    Assert.That(output, Does.Contain($"LeakReported({engine}).{leak}: left 1 connection(s) open"), "the leak is still reported");
                }

                var clean = Single(results, $"LeakFails({engine}).Disposes_what_it_opens", context);
                Assert.That(clean.Outcome, Is.EqualTo("Passed"), $"{clean.Name} leaks nothing: {clean.Message}\n{context}");
            }
        }

        [Test]
        public async Task On_the_assembly_it_fails_the_tests_that_leak_in_every_fixture()
        {
            Assert.That(File.Exists(Probes.AssemblyLeakProbe), Is.True, $"the probe assembly is not built: {Probes.AssemblyLeakProbe}");
            var (results, output) = await ChildTestRun.RunAsync("FullyQualifiedName~TestDbKit.NUnit.AssemblyLeakProbe.", TimeSpan.FromMinutes(4), Probes.AssemblyLeakProbe);
            var context = $"child run:\n{output}";
            var failed = Single(results, "UnmarkedFixture.Leaks_a_connection_the_kit_handed_out", context);
            Assert.That(failed.Outcome, Is.EqualTo("Failed"), $"{failed.Name} should fail\n{context}");
            Assert.That(failed.Message, Does.Contain(nameof(ConnectionLeakException)));
            Assert.That(failed.Message, Does.Contain("AssemblyLeakProbe.UnmarkedFixture.Leaks_a_connection_the_kit_handed_out: left 1 connection(s) open"));
            var clean = Single(results, "UnmarkedFixture.Disposes_what_it_opens", context);
            Assert.That(clean.Outcome, Is.EqualTo("Passed"), $"{clean.Name} leaks nothing: {clean.Message}\n{context}");
        }

        private static ChildTestResult Single(IReadOnlyList<ChildTestResult> results, string suffix, string context)
        {
            var matching = results.Where(r => r.Name.Contains(suffix, StringComparison.Ordinal)).ToList();
            Assert.That(matching, Has.Count.EqualTo(1), $"expected one result for {suffix}\n{context}");
            return matching[0];
        }
    }
}

namespace TestDbKit.NUnit.Tests.LeakProbes
{
    /// <summary>Tests that leak a connection on purpose; they run only in the child run of <see cref="FailOnConnectionLeakTests"/>.</summary>
    [ChildRunOnly]
    public abstract class LeakProbe(DbEngine engine) : ResilientDbTestBase(engine)
    {
        [Test]
        public Task Leaks_a_connection_the_kit_handed_out() => LeakingTests.LeakAConnectionTheKitHandedOutAsync(Database);

        [Test]
        public Task Leaks_a_connection_it_opened_itself() => LeakingTests.LeakAConnectionItOpenedItselfAsync(Database);

        [Test]
        public Task Disposes_what_it_opens() => LeakingTests.DisposeWhatItOpensAsync(Database);
    }

    [TestFixture(DbEngine.PostgreSql)]
    [TestFixture(DbEngine.MySql)]
    [FailOnConnectionLeak]
    public sealed class LeakFails(DbEngine engine) : LeakProbe(engine);

    [TestFixture(DbEngine.PostgreSql)]
    [TestFixture(DbEngine.MySql)]
    public sealed class LeakReported(DbEngine engine) : LeakProbe(engine);
}
