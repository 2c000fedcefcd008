using System.Data.Common;
using TestDbKit.Tests.Common;
using TestDbKit.Xunit;

namespace TestDbKit.Xunit.Tests
{
    /// <summary>
    /// [FailOnConnectionLeak] turns a leak into the failure of the test that leaked. The probes leak on purpose,
    /// so they run in a child <c>dotnet test</c> (skipped here), and this test reads the child's results: the
    /// leaking tests of a marked class fail, naming the test class and the count; the same tests on a class
    /// without the attribute pass (the leak is only reported), and a test that leaks nothing passes.
    /// </summary>
    public sealed class FailOnConnectionLeakTests
    {
        [Fact]
        public async Task A_marked_class_fails_the_tests_that_leak_and_only_those()
        {
            var (results, output) = await ChildTestRun.RunAsync("FullyQualifiedName~TestDbKit.Xunit.Tests.LeakProbes.", TimeSpan.FromMinutes(4));
            var context = $"child run:\n{output}";
            foreach (var engine in new[] { "Postgres", "MySql" })
            {
                foreach (var leak in new[] { "Leaks_a_connection_the_kit_handed_out", "Leaks_a_connection_it_opened_itself" })
                {
                    var failed = Single(results, $"{engine}LeakFails.{leak}", context);
                    Assert.True(failed.Outcome == "Failed", $"{failed.Name} should fail, was {failed.Outcome}\n{context}");
                    Assert.Contains(nameof(ConnectionLeakException), failed.Message, StringComparison.Ordinal);
                    Assert.Contains($"LeakProbes.{engine}LeakFails{Test(leak)}: left 1 connection(s) open", failed.Message, StringComparison.Ordinal);

                    var reported = Single(results, $"{engine}LeakReported.{leak}", context);
                    Assert.True(reported.Outcome == "Passed", $"{reported.Name} should pass without the attribute, was {reported.Outcome}: {reported.Message}\n{context}");
                }

                var clean = Single(results, $"{engine}LeakFails.Disposes_what_it_opens", context);
                Assert.True(clean.Outcome == "Passed", $"{clean.Name} leaks nothing and should pass, was {clean.Outcome}: {clean.Message}\n{context}");
            }

            // Without the attribute the leak is still reported on the test output (on xunit v2, by class: the probes take no ITestOutputHelper).
            Assert.Contains($"LeakProbes.PostgresLeakReported{Test("Leaks_a_connection_the_kit_handed_out")}: left 1 connection(s) open", output, StringComparison.Ordinal);
            Assert.Contains($"LeakProbes.MySqlLeakReported{Test("Leaks_a_connection_it_opened_itself")}: left 1 connection(s) open", output, StringComparison.Ordinal);
        }

        [Fact]
        public async Task On_the_assembly_it_fails_the_tests_that_leak_in_every_class()
        {
            Assert.True(File.Exists(Probes.AssemblyLeakProbe), $"the probe assembly is not built: {Probes.AssemblyLeakProbe}");
            var (results, output) = await ChildTestRun.RunAsync("FullyQualifiedName~TestDbKit.Xunit.AssemblyLeakProbe.", TimeSpan.FromMinutes(4), Probes.AssemblyLeakProbe);
            var context = $"child run:\n{output}";
            var failed = Single(results, "UnmarkedClass.Leaks_a_connection_the_kit_handed_out", context);
            Assert.True(failed.Outcome == "Failed", $"{failed.Name} should fail, was {failed.Outcome}\n{context}");
            Assert.Contains("ConnectionLeakException", failed.Message, StringComparison.Ordinal);
            Assert.Contains($"AssemblyLeakProbe.UnmarkedClass{Test("Leaks_a_connection_the_kit_handed_out")}: left 1 connection(s) open", failed.Message, StringComparison.Ordinal);
            var clean = Single(results, "UnmarkedClass.Disposes_what_it_opens", context);
            Assert.True(clean.Outcome == "Passed", $"{clean.Name} leaks nothing and should pass, was {clean.Outcome}: {clean.Message}\n{context}");
        }

        /// <summary>What a leak report adds to the class's name for a test of <paramref name="method"/>: xunit v3 tells
        /// the kit the running test; xunit v2 tells only a class that takes an ITestOutputHelper, which the probes do not.</summary>
#if XUNIT_V3
        private static string Test(string method) => "." + method;
#else
        private static string Test(string method) => string.Empty;
#endif

        private static ChildTestResult Single(IReadOnlyList<ChildTestResult> results, string suffix, string context)
        {
            var matching = results.Where(r => r.Name.EndsWith(suffix, StringComparison.Ordinal)).ToList();
            Assert.True(matching.Count == 1, $"expected one result for {suffix}, found {matching.Count}\n{context}");
            return matching[0];
        }
    }
}

namespace TestDbKit.Xunit.Tests.LeakProbes
{
    /// <summary>Tests that leak a connection on purpose; they run only in the child run of <see cref="FailOnConnectionLeakTests"/>.</summary>
    public abstract class LeakProbe(DbEngine engine) : ResilientDbTestBase(engine)
    {
        [ChildRunFact]
        public Task Leaks_a_connection_the_kit_handed_out() => LeakingTests.LeakAConnectionTheKitHandedOutAsync(Database);

        [ChildRunFact]
        public Task Leaks_a_connection_it_opened_itself() => LeakingTests.LeakAConnectionItOpenedItselfAsync(Database);

        [ChildRunFact]
        public Task Disposes_what_it_opens() => LeakingTests.DisposeWhatItOpensAsync(Database);
    }

    [FailOnConnectionLeak]
    public sealed class PostgresLeakFails() : LeakProbe(DbEngine.PostgreSql);

    [FailOnConnectionLeak]
    public sealed class MySqlLeakFails() : LeakProbe(DbEngine.MySql);

    public sealed class PostgresLeakReported() : LeakProbe(DbEngine.PostgreSql);

    public sealed class MySqlLeakReported() : LeakProbe(DbEngine.MySql);
}
