using System.Globalization;
using System.Text.RegularExpressions;

namespace TestDbKit.Cli.Tests;

/// <summary>The run report contract the example pipelines rely on: with TESTDBKIT_REPORT_DIR set, a test process
/// writes NAME.txt and NAME.html there, and the pair describes the same run. Checked on a real `dotnet test` child
/// process (vstest's testhost), running <see cref="ReportWorkload"/>.</summary>
public sealed class ReportTests
{
    /// <summary>
    /// vstest kills its testhost 100 ms after asking it to stop, which may land before the exit handler or between
    /// its two files: the report used to be finished there, and one run in two on a loaded machine left a complete
    /// .txt beside an .html from an early checkpoint. The kit now writes the pair when the last test session ends,
    /// before the runner learns the test's result. This test gives the testhost 1 ms to stop (instead of 100), so
    /// an exit handler cannot finish: the report must be whole without it.
    /// </summary>
    [Fact]
    public async Task A_test_process_writes_its_report_at_exit_when_TESTDBKIT_REPORT_DIR_is_set()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"tdk-report-{Guid.NewGuid():N}");
        var psi = CliProcess.Dotnet("test", typeof(ReportWorkload).Assembly.Location, "--filter", $"FullyQualifiedName~{nameof(ReportWorkload)}");
        psi.Environment["TESTDBKIT_REPORT_DIR"] = dir;
        psi.Environment["VSTEST_TESTHOST_SHUTDOWN_TIMEOUT"] = "1";
        psi.Environment.Remove("TESTDBKIT_CHAOS_SEED");
        psi.Environment.Remove("TESTDBKIT_REPORT_NAME");
        var (code, stdout, stderr) = await CliProcess.RunAsync(psi, TimeSpan.FromMinutes(4));
        Assert.True(code == 0, $"dotnet test exited with {code}:\n{stdout}\n{stderr}");

        var name = typeof(ReportWorkload).Assembly.GetName().Name;
        var text = await File.ReadAllTextAsync(Path.Combine(dir, name + ".txt"));
        Assert.Contains($"TestDbKit run report: {name}", text, StringComparison.Ordinal);
        Assert.Contains("Tests (base classes): 2 ", text, StringComparison.Ordinal);
        Assert.Matches(@"Faults injected: \d+ \(.*\bkill [3-9]\d*", text);
        Assert.Matches(@"\bkill-session 1\b", text);
        Assert.Contains($"Chaos seeds: {ReportWorkload.Seed} (ChaosSchedule)", text, StringComparison.Ordinal);
        Assert.Matches(@"Client errors: [1-9]\d* \(.*connection lost [1-9]", text);

        // At least the killed session's recovery, with its time to recover.
        var recoveries = Regex.Match(text, @"Recoveries: (\d+) \(time to recover p50 [\d.]+ ms, max [\d.]+ ms\); failed: 0");
        Assert.True(recoveries.Success, text);
        Assert.True(int.Parse(recoveries.Groups[1].Value, CultureInfo.InvariantCulture) >= 1, text);

        var html = await File.ReadAllTextAsync(Path.Combine(dir, name + ".html"));
        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        Assert.Contains("<svg", html, StringComparison.Ordinal);
        Assert.Contains(">fault: kill<", html, StringComparison.Ordinal); // the row of the catalogue's "kill"
        Assert.Contains("error: connection lost", html, StringComparison.Ordinal);
        Assert.Contains($"Chaos seed: <b>{ReportWorkload.Seed}</b>", html, StringComparison.Ordinal);
        AssertSameRun(text, html);
        Assert.Empty(Directory.GetFiles(dir, "*.tmp"));
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task TESTDBKIT_REPORT_NAME_names_the_report_and_its_files()
    {
        const string chosen = "nightly chaos/pg";
        var dir = Path.Combine(Path.GetTempPath(), $"tdk-report-{Guid.NewGuid():N}");
        var psi = CliProcess.Dotnet("test", typeof(ReportWorkload).Assembly.Location, "--filter",
            $"FullyQualifiedName~{nameof(ReportWorkload)}.{nameof(ReportWorkload.A_killed_session_is_recovered_from_by_a_retrying_writer)}");
        psi.Environment["TESTDBKIT_REPORT_DIR"] = dir;
        psi.Environment["TESTDBKIT_REPORT_NAME"] = chosen;
        psi.Environment.Remove("TESTDBKIT_CHAOS_SEED");
        var (code, stdout, stderr) = await CliProcess.RunAsync(psi, TimeSpan.FromMinutes(4));
        Assert.True(code == 0, $"dotnet test exited with {code}:\n{stdout}\n{stderr}");

        // The name, made safe for a file name, names both files; nothing is written under the assembly's name.
        Assert.Equal(["nightly_chaos_pg.html", "nightly_chaos_pg.txt"], Directory.GetFiles(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        var text = await File.ReadAllTextAsync(Path.Combine(dir, "nightly_chaos_pg.txt"));
        var html = await File.ReadAllTextAsync(Path.Combine(dir, "nightly_chaos_pg.html"));
        Assert.StartsWith($"TestDbKit run report: {chosen} (", text, StringComparison.Ordinal);
        Assert.Contains($"<h1>TestDbKit run report: {chosen}</h1>", html, StringComparison.Ordinal);
        Assert.Contains("Tests (base classes): 1 ", text, StringComparison.Ordinal);
        AssertSameRun(text, html);
        Directory.Delete(dir, recursive: true);
    }

    /// <summary>The .txt and the .html were rendered from one capture: the same tests, faults, client errors,
    /// recoveries (and failed ones) and seeds.</summary>
    private static void AssertSameRun(string text, string html)
    {
        int Text(string pattern) => Number(text, pattern, "the .txt report");
        int Html(string pattern) => Number(html, pattern, "the .html report");
        Assert.Equal(Text(@"Tests \(base classes\): (\d+) "), Html(@"<b>(\d+)</b><span>tests</span>"));
        Assert.Equal(Text(@"Tests \(base classes\): (\d+) "), Html(@"Tests \(base classes\): (\d+);"));
        Assert.Equal(Text(@"Faults injected: (\d+)"), Html(@"<b>(\d+)</b><span>faults injected</span>"));
        Assert.Equal(Text(@"Client errors: (\d+)"), Html(@"<b>(\d+)</b><span>client errors</span>"));
        Assert.Equal(Text(@"Recoveries: (\d+)"), Html(@"<b>(\d+)</b><span>recoveries \(\d+ failed\)</span>"));
        Assert.Equal(Text(@"; failed: (\d+)"), Html(@"<span>recoveries \((\d+) failed\)</span>"));
        var seeds = Regex.Match(text, @"Chaos seeds: (none|\d+)");
        Assert.True(seeds.Success, text);
        Assert.Contains($"Chaos seed: <b>{seeds.Groups[1].Value}</b>", html, StringComparison.Ordinal);
    }

    private static int Number(string report, string pattern, string what)
    {
        var match = Regex.Match(report, pattern);
        Assert.True(match.Success, $"'{pattern}' is not in {what}:\n{report}");
        return int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
    }
}
