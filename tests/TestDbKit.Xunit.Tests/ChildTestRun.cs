using System.Xml.Linq;
using TestDbKit.Tests.Common;

namespace TestDbKit.Xunit.Tests;

/// <summary>
/// Runs some tests of this very assembly in a child <c>dotnet test</c> (<see cref="ChildTestRuns"/>), as a user's
/// test run would run them: for behaviour whose point is that a test fails.
/// </summary>
internal static class ChildTestRun
{
    /// <summary>Set to 1 in the child: tests marked <see cref="ChildRunFactAttribute"/> run only there.</summary>
    public const string Variable = ChildTestRuns.Variable;

    /// <summary>Runs the tests <paramref name="filter"/> picks in <paramref name="assembly"/> (this one when
    /// null); returns their results and everything the run printed. What the test host wrote outside any one
    /// test (the kit's leak reports, on xunit v2 without a test output) is kept in the TRX's run summary; what went
    /// to a test's own output (always, on xunit v3), in that test's result.</summary>
    public static Task<(IReadOnlyList<ChildTestResult> Results, string Output)> RunAsync(string filter, TimeSpan within, string? assembly = null) =>
        ChildTestRuns.RunAsync(assembly ?? typeof(ChildTestRun).Assembly.Location, filter, within,
            document => document.Descendants(ChildTestRuns.Trx + "ResultSummary").Descendants(ChildTestRuns.Trx + "StdOut")
                .Concat(document.Descendants(ChildTestRuns.Trx + "UnitTestResult").Descendants(ChildTestRuns.Trx + "StdOut")));
}

/// <summary>The probe assembly built beside this one: tests/TestDbKit.Xunit.Tests/bin/CONFIG/net10.0/ maps to
/// tests/TestDbKit.Xunit.Tests/AssemblyLeakProbe/bin/CONFIG/net10.0/ (likewise for TestDbKit.XunitV3.Tests).</summary>
internal static class Probes
{
#if XUNIT_V3
    public static string AssemblyLeakProbe => ChildProcess.BuiltBeside("AssemblyLeakProbe", "TestDbKit.XunitV3.AssemblyLeakProbe.dll");
#else
    public static string AssemblyLeakProbe => ChildProcess.BuiltBeside("AssemblyLeakProbe", "TestDbKit.Xunit.AssemblyLeakProbe.dll");
#endif
}

/// <summary>A test that runs only in a child run started by <see cref="ChildTestRun"/> (its point is to fail
/// there); in the normal run it is skipped.</summary>
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
        if (!ChildTestRuns.InChildRun)
        {
            Skip = "runs in a child test process started by another test of this project";
        }
    }
}

/// <summary>A theory that runs only in a child run started by <see cref="ChildTestRun"/>, like <see cref="ChildRunFactAttribute"/>.</summary>
public sealed class ChildRunTheoryAttribute : TheoryAttribute
{
#if XUNIT_V3
    // xunit v3 records where a test is declared through its attribute's constructor.
    public ChildRunTheoryAttribute([System.Runtime.CompilerServices.CallerFilePath] string? sourceFilePath = null, [System.Runtime.CompilerServices.CallerLineNumber] int sourceLineNumber = -1)
        : base(sourceFilePath, sourceLineNumber)
#else
    public ChildRunTheoryAttribute()
#endif
    {
        if (!ChildTestRuns.InChildRun)
        {
            Skip = "runs in a child test process started by another test of this project";
        }
    }
}
