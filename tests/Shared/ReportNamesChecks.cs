using System.Data.Common;
using TestDbKit.Diagnostics;
using TestDbKit.Sessions;

namespace TestDbKit.Tests.Common;

/// <summary>
/// The run report says who: in the body of a base class's test the kit knows the test (after an await, and in work
/// the test starts), and the fault the test injects, the error its client meets and the recovery it makes each name
/// the test and its engine; the recoveries table groups by test. Shared by every adapter's test project: the adapter
/// must make the test current in a frame that outlives its setup.
/// </summary>
public static class ReportNamesChecks
{
    public static async Task InTheBodyAsync(string testName, DbEngine engine, TestDatabase database, DbConnection connection)
    {
        Expect.That(CurrentTest.Value?.Name == testName && CurrentTest.Value.Engine == engine,
            $"in the body the current test is '{CurrentTest.Value?.Name}' ({CurrentTest.Value?.Engine}), expected '{testName}' ({engine})");
        await Task.Yield();
        var inTask = await Task.Run(() => CurrentTest.Value?.Name);
        Expect.That(inTask == testName && CurrentTest.Value?.Name == testName, $"after an await: '{CurrentTest.Value?.Name}'; in Task.Run: '{inTask}'");

        using var scope = RunScope.Begin();
        await database.Faults.KillSessionAsync(connection);
        // The code under test, with a retry of its own: its first try meets the killed session, the retry a new one.
        var recovery = await Resilience.AssertRecoversAsync(async ct =>
        {
            try
            {
                await connection.ScalarAsync("SELECT 1");
            }
            catch (Exception e) when (DbErrors.IsTransient(e))
            {
                await using var fresh = await database.OpenConnectionAsync(ct);
                await fresh.ScalarAsync("SELECT 1");
            }
        }, TimeSpan.FromSeconds(30), minimumErrors: 1);
        Expect.That(recovery.Recovered && recovery.Errors.Count >= 1 && DbErrors.IsConnectionLost(recovery.Errors[0].Error),
            $"premise: the killed session failed as connection lost, then the retry worked: {string.Join("; ", recovery.Errors.Select(e => e.Error.Message))}");

        var report = scope.Capture();
        Expect.That(report.Faults.Count == 1, $"premise: one fault recorded, saw {string.Join(", ", report.Faults.Select(f => f.Kind))}");
        Expect.That(report.Errors.Count > 0, "premise: the client's error was recorded");
        Expect.That(report.Faults.All(f => f.Test == testName && f.Engine == engine), $"the fault names '{report.Faults[0].Test}' ({report.Faults[0].Engine})");
        Expect.That(report.Errors.All(e => e.Test == testName && e.Engine == engine), $"the error names '{report.Errors[0].Test}' ({report.Errors[0].Engine})");
        var byTest = report.RecoveriesByTest;
        Expect.That(byTest.Count == 1 && byTest[0].Test == testName && byTest[0].Engine == engine && byTest[0].Recovered == 1,
            $"recoveries by test: {string.Join("; ", byTest.Select(t => $"{t.Test} ({t.Engine}) {t.Recovered}"))}");
        Expect.That(report.ToString().Contains($"  {testName} ({Engines.EngineRegistry.For(engine).Name}): 1 recovered", StringComparison.Ordinal),
            $"the text report groups the recovery under the test:\n{report}");
        var html = RunReportHtml.Render(report);
        Expect.That(html.Contains($"<tr><td>{System.Net.WebUtility.HtmlEncode(testName)}</td><td>{Engines.EngineRegistry.For(engine).Name}</td><td class=\"num\">1</td>", StringComparison.Ordinal),
            "the HTML report's recoveries table has a row for the test, its engine and its one recovery");
    }
}
