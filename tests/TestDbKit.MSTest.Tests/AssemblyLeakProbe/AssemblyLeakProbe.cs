using TestDbKit;
using TestDbKit.MSTest;

[assembly: FailOnConnectionLeak]
[assembly: Parallelize(Scope = ExecutionScope.MethodLevel)]

namespace TestDbKit.MSTest.AssemblyLeakProbe;

/// <summary>No [FailOnConnectionLeak] on the class: the assembly's attribute applies. Runs only in the child
/// run of FailOnConnectionLeakTests (TESTDBKIT_ADAPTER_CHILD_RUN=1).</summary>
[TestClass]
public sealed class UnmarkedClass : ResilientDbTestBase
{
    // Kept reachable, so that nothing but the kit closes them.
    private static readonly List<System.Data.Common.DbConnection> Leaked = [];

    [TestInitialize]
    public void OnlyInTheChildRun()
    {
        if (Environment.GetEnvironmentVariable("TESTDBKIT_ADAPTER_CHILD_RUN") != "1")
        {
            Assert.Inconclusive("runs in a child test process started by TestDbKit.MSTest.Tests");
        }
    }

    [TestMethod]
    public async Task Leaks_a_connection_the_kit_handed_out()
    {
        var connection = await Database.OpenConnectionAsync();
        lock (Leaked)
        {
            Leaked.Add(connection);
        }
    }

    [TestMethod]
    public async Task Disposes_what_it_opens()
    {
        await using var connection = await Database.OpenConnectionAsync();
    }
}
