using TestDbKit.Tests.Common;

namespace TestDbKit.MSTest.Tests;

/// <summary>
/// Runs some tests of this very assembly in a child <c>dotnet test</c> (<see cref="ChildTestRuns"/>), as a user's
/// test run would run them: for behaviour whose point is that a test fails.
/// </summary>
internal static class ChildTestRun
{
    /// <summary>Runs the tests <paramref name="filter"/> picks in <paramref name="assembly"/> (this one when
    /// null); returns their results and everything the run printed, with every test's output from the TRX.</summary>
    public static Task<(IReadOnlyList<ChildTestResult> Results, string Output)> RunAsync(string filter, TimeSpan within, string? assembly = null) =>
        ChildTestRuns.RunAsync(assembly ?? typeof(ChildTestRun).Assembly.Location, filter, within,
            document => document.Descendants(ChildTestRuns.Trx + "StdOut").Concat(document.Descendants(ChildTestRuns.Trx + "StdErr")));

    /// <summary>The one result whose full name contains <paramref name="part"/>.</summary>
    public static ChildTestResult Single(IReadOnlyList<ChildTestResult> results, string part, string context)
    {
        var matching = results.Where(r => r.Name.Contains(part, StringComparison.Ordinal)).ToList();
        Assert.HasCount(1, matching, $"expected one result for {part}\n{context}");
        return matching[0];
    }
}

/// <summary>The probe assembly built beside this one.</summary>
internal static class Probes
{
    public static string AssemblyLeakProbe => ChildProcess.BuiltBeside("AssemblyLeakProbe", "TestDbKit.MSTest.AssemblyLeakProbe.dll");
}

/// <summary>A test class that runs only in a child run started by <see cref="ChildTestRun"/> (its point is to
/// fail there); in the normal run it is ignored. MSTest does not inherit condition attributes: each concrete
/// class says it.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class ChildRunOnlyAttribute : ConditionBaseAttribute
{
    public ChildRunOnlyAttribute()
        : base(ConditionMode.Include)
    {
        IgnoreMessage = "runs in a child test process started by another test of this project";
    }

    public override bool IsConditionMet => ChildTestRuns.InChildRun;

    public override string GroupName => "TestDbKit child run";
}
