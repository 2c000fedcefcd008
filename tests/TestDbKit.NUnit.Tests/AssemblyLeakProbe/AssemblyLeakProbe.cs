using TestDbKit;
using TestDbKit.NUnit;

[assembly: FailOnConnectionLeak]

namespace TestDbKit.NUnit.AssemblyLeakProbe;

/// <summary>No [FailOnConnectionLeak] on the fixture: the assembly's attribute applies. Runs only in the child
/// run of FailOnConnectionLeakTests (TESTDBKIT_ADAPTER_CHILD_RUN=1).</summary>
public sealed class UnmarkedFixture : ResilientDbTestBase
{
    // Kept reachable, so that nothing but the kit closes them.
    private static readonly List<System.Data.Common.DbConnection> Leaked = [];

    [SetUp]
    public void OnlyInTheChildRun()
    {
        if (Environment.GetEnvironmentVariable("TESTDBKIT_ADAPTER_CHILD_RUN") != "1")
        {
            Assert.Ignore("runs in a child test process started by TestDbKit.NUnit.Tests");
        }
    }

    [Test]
    public async Task Leaks_a_connection_the_kit_handed_out() => Leaked.Add(await Database.OpenConnectionAsync());

    [Test]
    public async Task Disposes_what_it_opens()
    {
        await using var connection = await Database.OpenConnectionAsync();
    }
}
