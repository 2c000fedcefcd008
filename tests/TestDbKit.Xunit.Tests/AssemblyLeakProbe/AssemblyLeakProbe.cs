using TestDbKit;
using TestDbKit.Xunit;

[assembly: FailOnConnectionLeak]

namespace TestDbKit.Xunit.AssemblyLeakProbe;

/// <summary>Runs only in the child run of FailOnConnectionLeakTests (TESTDBKIT_ADAPTER_CHILD_RUN=1).</summary>
public sealed class ChildRunFactAttribute : FactAttribute
{
#if XUNIT_V3
    // xunit v3 records where a test is declared through its attribute's constructor.
    public ChildRunFactAttribute([System.Runtime.CompilerServices.CallerFilePath] string? sourceFilePath = null, [System.Runtime.CompilerServices.CallerLineNumber] int sourceLineNumber = -1)
        : base(sourceFilePath, sourceLineNumber)
#else
    public ChildRunFactAttribute()
#endif
    {
        if (Environment.GetEnvironmentVariable("TESTDBKIT_ADAPTER_CHILD_RUN") != "1")
        {
            Skip = "runs in a child test process started by TestDbKit.Xunit.Tests";
        }
    }
}

/// <summary>No [FailOnConnectionLeak] on the class: the assembly's attribute applies.</summary>
public sealed class UnmarkedClass : ResilientDbTestBase
{
    // Kept reachable, so that nothing but the kit closes them.
    private static readonly List<System.Data.Common.DbConnection> Leaked = [];

    [ChildRunFact]
    public async Task Leaks_a_connection_the_kit_handed_out() => Leaked.Add(await Database.OpenConnectionAsync());

    [ChildRunFact]
    public async Task Disposes_what_it_opens()
    {
        await using var connection = await Database.OpenConnectionAsync();
    }
}
