using TestDbKit.MSTest;
using TestDbKit.Tests.Common;

namespace TestDbKit.MSTest.Tests
{
    /// <summary>
    /// [FailOnConnectionLeak] turns a leak into the failure of the test that leaked. The probes leak on purpose,
    /// so they run in a child <c>dotnet test</c> (ignored here), and this test reads the child's results: the
    /// leaking tests of a marked class fail, naming the test and the count; the same tests on a class without the
    /// attribute pass (the leak is only reported), and a test that leaks nothing passes.
    /// </summary>
    [TestClass]
    public sealed class FailOnConnectionLeakTests
    {
        [TestMethod]
        public async Task A_marked_class_fails_the_tests_that_leak_and_only_those()
        {
            var (results, output) = await ChildTestRun.RunAsync("FullyQualifiedName~TestDbKit.MSTest.Tests.LeakProbes.", TimeSpan.FromMinutes(4));
            var context = $"child run:\n{output}";
            foreach (var engine in new[] { "PostgreSql", "MySql" })
            {
                foreach (var leak in new[] { "Leaks_a_connection_the_kit_handed_out", "Leaks_a_connection_it_opened_itself" })
                {
                    var failed = ChildTestRun.Single(results, $"{engine}LeakFails.{leak}", context);
                    Assert.AreEqual("Failed", failed.Outcome, $"{failed.Name} should fail\n{context}");
                    Assert.Contains(nameof(ConnectionLeakException), failed.Message);
                    Assert.Contains($"TestDbKit.MSTest.Tests.LeakProbes.{engine}LeakFails.{leak}: left 1 connection(s) open", failed.Message);

                    var reported = ChildTestRun.Single(results, $"{engine}LeakReported.{leak}", context);
                    Assert.AreEqual("Passed", reported.Outcome, $"{reported.Name} should pass without the attribute: {reported.Message}\n{context}");
                    Assert.Contains($"TestDbKit.MSTest.Tests.LeakProbes.{engine}LeakReported.{leak}: left 1 connection(s) open", output, "the leak is still reported");
                }

                var clean = ChildTestRun.Single(results, $"{engine}LeakFails.Disposes_what_it_opens", context);
                Assert.AreEqual("Passed", clean.Outcome, $"{clean.Name} leaks nothing: {clean.Message}\n{context}");
            }
        }

        [TestMethod]
        public async Task On_the_assembly_it_fails_the_tests_that_leak_in_every_class()
        {
            Assert.IsTrue(File.Exists(Probes.AssemblyLeakProbe), $"the probe assembly is not built: {Probes.AssemblyLeakProbe}");
            var (results, output) = await ChildTestRun.RunAsync("FullyQualifiedName~TestDbKit.MSTest.AssemblyLeakProbe.", TimeSpan.FromMinutes(4), Probes.AssemblyLeakProbe);
            var context = $"child run:\n{output}";
            var failed = ChildTestRun.Single(results, "UnmarkedClass.Leaks_a_connection_the_kit_handed_out", context);
            Assert.AreEqual("Failed", failed.Outcome, $"{failed.Name} should fail: the assembly is marked\n{context}");
            Assert.Contains("TestDbKit.MSTest.AssemblyLeakProbe.UnmarkedClass.Leaks_a_connection_the_kit_handed_out: left 1 connection(s) open", failed.Message);
            var clean = ChildTestRun.Single(results, "UnmarkedClass.Disposes_what_it_opens", context);
            Assert.AreEqual("Passed", clean.Outcome, $"{clean.Name} leaks nothing: {clean.Message}\n{context}");
        }
    }
}

namespace TestDbKit.MSTest.Tests.LeakProbes
{
    /// <summary>Tests that leak a connection on purpose; they run only in the child run of <see cref="FailOnConnectionLeakTests"/>.</summary>
    public abstract class LeakProbe(DbEngine engine) : ResilientDbTestBase(engine)
    {
        [TestMethod]
        public Task Leaks_a_connection_the_kit_handed_out() => LeakingTests.LeakAConnectionTheKitHandedOutAsync(Database);

        [TestMethod]
        public Task Leaks_a_connection_it_opened_itself() => LeakingTests.LeakAConnectionItOpenedItselfAsync(Database);

        [TestMethod]
        public Task Disposes_what_it_opens() => LeakingTests.DisposeWhatItOpensAsync(Database);
    }

    [TestClass, ChildRunOnly, FailOnConnectionLeak]
    public sealed class PostgreSqlLeakFails() : LeakProbe(DbEngine.PostgreSql);

    [TestClass, ChildRunOnly, FailOnConnectionLeak]
    public sealed class MySqlLeakFails() : LeakProbe(DbEngine.MySql);

    [TestClass, ChildRunOnly]
    public sealed class PostgreSqlLeakReported() : LeakProbe(DbEngine.PostgreSql);

    [TestClass, ChildRunOnly]
    public sealed class MySqlLeakReported() : LeakProbe(DbEngine.MySql);
}
