using System.Text.RegularExpressions;

namespace TestDbKit.Cli.Tests;

/// <summary>The run report contract the example pipelines rely on: with TESTDBKIT_REPORT_DIR set, a test process
/// writes NAME.txt and NAME.html there when it exits. Checked on a real `dotnet test` child process (vstest's
/// testhost), running <see cref="ReportWorkload"/>.</summary>
public sealed class ReportTests
{
    [Fact]
    public async Task A_test_process_writes_its_report_at_exit_when_TESTDBKIT_REPORT_DIR_is_set()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"tdk-report-{Guid.NewGuid():N}");
        var psi = CliProcess.Dotnet("test", typeof(ReportWorkload).Assembly.Location, "--filter", $"FullyQualifiedName~{nameof(ReportWorkload)}");
        psi.Environment["TESTDBKIT_REPORT_DIR"] = dir;
        psi.Environment.Remove("TESTDBKIT_CHAOS_SEED");
        var (code, stdout, stderr) = await CliProcess.RunAsync(psi, TimeSpan.FromMinutes(4));
        Assert.True(code == 0, $"dotnet test exited with {code}:\n{stdout}\n{stderr}");

        var name = typeof(ReportWorkload).Assembly.GetName().Name;
        var text = await File.ReadAllTextAsync(Path.Combine(dir, name + ".txt"));
        Assert.Contains($"TestDbKit run report: {name}", text, StringComparison.Ordinal);
        Assert.Contains("Tests (base classes): 2 ", text, StringComparison.Ordinal);
        Assert.Matches(@"Faults injected: \d+ \(.*kill all sessions [3-9]\d*", text);
        Assert.Matches(@"kill session 1\b", text);
        Assert.Contains($"Chaos seeds: {ReportWorkload.Seed} (ChaosSchedule)", text, StringComparison.Ordinal);
        Assert.Matches(@"Client errors: [1-9]\d* \(.*connection lost [1-9]", text);

        // At least the killed session's recovery, with its time to recover.
        var recoveries = Regex.Match(text, @"Recoveries: (\d+) \(time to recover p50 [\d.]+ ms, max [\d.]+ ms\); failed: 0");
        Assert.True(recoveries.Success, text);
        Assert.True(int.Parse(recoveries.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= 1, text);

        var html = await File.ReadAllTextAsync(Path.Combine(dir, name + ".html"));
        Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
        Assert.Contains("<svg", html, StringComparison.Ordinal);
        Assert.Contains("fault: kill all sessions", html, StringComparison.Ordinal);
        Assert.Contains("error: connection lost", html, StringComparison.Ordinal);
        Assert.Contains($"Chaos seed: <b>{ReportWorkload.Seed}</b>", html, StringComparison.Ordinal);
        Directory.Delete(dir, recursive: true);
    }
}
