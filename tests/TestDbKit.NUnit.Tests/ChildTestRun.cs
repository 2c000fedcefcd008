using TestDbKit.Tests.Common;
using NUnit.Framework.Interfaces;
using NUnit.Framework.Internal;

namespace TestDbKit.NUnit.Tests;

/// <summary>
/// Runs some tests of this very assembly in a child <c>dotnet test</c> (<see cref="ChildTestRuns"/>), as a user's
/// test run would run them: for behaviour whose point is that a test fails.
/// </summary>
internal static class ChildTestRun
{
    /// <summary>Set to 1 in the child: fixtures marked <see cref="ChildRunOnlyAttribute"/> run only there.</summary>
    public const string Variable = ChildTestRuns.Variable;

    /// <summary>Runs the tests <paramref name="filter"/> picks in <paramref name="assembly"/> (this one when
    /// null); returns their results and everything the run printed, with every test's output from the TRX.</summary>
    public static Task<(IReadOnlyList<ChildTestResult> Results, string Output)> RunAsync(string filter, TimeSpan within, string? assembly = null) =>
        ChildTestRuns.RunAsync(assembly ?? typeof(ChildTestRun).Assembly.Location, filter, within,
            document => document.Descendants(ChildTestRuns.Trx + "StdOut").Concat(document.Descendants(ChildTestRuns.Trx + "StdErr")));
}

/// <summary>The probe assembly built beside this one: tests/TestDbKit.NUnit.Tests/bin/CONFIG/net10.0/ maps to
/// tests/TestDbKit.NUnit.Tests/AssemblyLeakProbe/bin/CONFIG/net10.0/.</summary>
internal static class Probes
{
    public static string AssemblyLeakProbe => ChildProcess.BuiltBeside("AssemblyLeakProbe", "TestDbKit.NUnit.AssemblyLeakProbe.dll");
}

/// <summary>A fixture that runs only in a child run started by <see cref="ChildTestRun"/> (its point is to
/// fail there); in the normal run it is ignored.</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class ChildRunOnlyAttribute : NUnitAttribute, IApplyToTest
{
    public void ApplyToTest(global::NUnit.Framework.Internal.Test test)
    {
        if (!ChildTestRuns.InChildRun && test.RunState != RunState.NotRunnable)
        {
            test.RunState = RunState.Ignored;
            test.Properties.Set(PropertyNames.SkipReason, "runs in a child test process started by another test of this project");
        }
    }
}
