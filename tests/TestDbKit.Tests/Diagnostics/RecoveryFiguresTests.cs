using System.Data.Common;
using TestDbKit.Diagnostics;

namespace TestDbKit.Tests.Diagnostics;

/// <summary>The report's recovery figures, computed from known recoveries: the count, p50 (nearest rank), max and
/// failed, in the text summary and in the HTML cards. Each test counts only its own recoveries (a
/// <see cref="RunScope"/>), so the figures are exact.</summary>
public sealed class RecoveryFiguresTests
{
    [Fact]
    public void P50_max_and_failed_are_computed_from_the_recoveries()
    {
        using var scope = RunScope.Begin();
        foreach (var ms in new[] { 30, 10, 40, 20 })
        {
            RunLog.Recovery(TimeSpan.FromMilliseconds(ms), recovered: true, "known");
        }

        RunLog.Recovery(TimeSpan.FromMilliseconds(500), recovered: false, "known, failed");

        var report = scope.Capture();
        Assert.Equal(4, report.RecoveryTimes.Count);
        Assert.Equal(TimeSpan.FromMilliseconds(20), report.MedianRecoveryTime); // sorted 10 20 30 40: the lower middle
        Assert.Equal(TimeSpan.FromMilliseconds(40), report.MaxRecoveryTime); // the failed one's 500 ms is no recovery time
        Assert.Equal(1, report.FailedRecoveries);
        Assert.Contains("Recoveries: 4 (time to recover p50 20 ms, max 40 ms); failed: 1", report.ToString(), StringComparison.Ordinal);

        var html = RunReportHtml.Render(report);
        Assert.Contains("<b>4</b><span>recoveries (1 failed)</span>", html, StringComparison.Ordinal);
        Assert.Contains("<b>20 ms</b><span>time to recover, p50</span>", html, StringComparison.Ordinal);
        Assert.Contains("<b>40 ms</b><span>time to recover, max</span>", html, StringComparison.Ordinal);
    }

    [Fact]
    public void With_an_odd_count_p50_is_the_middle_and_with_none_there_is_no_p50()
    {
        using (var scope = RunScope.Begin())
        {
            foreach (var ms in new[] { 7.5, 3, 900 })
            {
                RunLog.Recovery(TimeSpan.FromMilliseconds(ms), recovered: true, "known");
            }

            var report = scope.Capture();
            Assert.Equal(TimeSpan.FromMilliseconds(7.5), report.MedianRecoveryTime);
            Assert.Equal(TimeSpan.FromMilliseconds(900), report.MaxRecoveryTime);
            Assert.Contains("Recoveries: 3 (time to recover p50 7.5 ms, max 900 ms); failed: 0", report.ToString(), StringComparison.Ordinal);
        }

        using (var empty = RunScope.Begin())
        {
            RunLog.Recovery(TimeSpan.FromSeconds(2), recovered: false, "only a failure");
            var report = empty.Capture();
            Assert.Null(report.MedianRecoveryTime);
            Assert.Null(report.MaxRecoveryTime);
            Assert.Contains("Recoveries: 0; failed: 1", report.ToString(), StringComparison.Ordinal);
            Assert.Contains("<b>-</b><span>time to recover, p50</span>", RunReportHtml.Render(report), StringComparison.Ordinal);
        }
    }

    /// <summary>Real recoveries from real kills: two that recover and one that does not. The report's figures are
    /// exactly the times the assertions measured.</summary>
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task One_failing_recovery_among_real_ones_is_counted_as_exactly_one_failed(DbEngine engine)
    {
        await using var pool = await RecoveryResultTests.PoolAsync(engine);
        await using var db = await pool.LeaseAsync();
        using var scope = RunScope.Begin();
        var times = new List<TimeSpan>();

        for (var i = 0; i < 2; i++)
        {
            await using var doomed = await db.OpenConnectionAsync();
            await db.Faults.KillSessionAsync(doomed);
            var result = await Resilience.AssertRecoversAsync(ct => RecoveryResultTests.UseThenReopenAsync(db, doomed, ct), TimeSpan.FromSeconds(10), minimumErrors: 1);
            Assert.True(result.Recovered);
            Assert.StartsWith("Recovered in", result.ToString(), StringComparison.Ordinal);
            times.Add(result.TimeToRecover!.Value);
        }

        // A client with no retry: it meets the lost connection and gives up.
        await using (var doomed = await db.OpenConnectionAsync())
        {
            await db.Faults.KillSessionAsync(doomed);
            var e = await Assert.ThrowsAsync<ResilienceException>(() =>
                Resilience.AssertRecoversAsync(_ => doomed.ScalarAsync("SELECT 1"), TimeSpan.FromSeconds(10)));
            Assert.IsAssignableFrom<DbException>(e.InnerException);
            Assert.True(DbErrors.IsConnectionLost(e.InnerException!), e.InnerException!.ToString());
            Assert.NotNull(e.Result);
            Assert.NotEmpty(e.Result.Errors);
            Assert.False(e.Result.Recovered);
            Assert.StartsWith("Did not recover", e.Result.ToString(), StringComparison.Ordinal);
        }

        var report = scope.Capture();
        Assert.Equal(times, report.RecoveryTimes);
        Assert.Equal(1, report.FailedRecoveries);
        Assert.Equal(times.Min(), report.MedianRecoveryTime);
        Assert.Equal(times.Max(), report.MaxRecoveryTime);
        Assert.Equal(new Dictionary<string, int> { ["kill-session"] = 3 }, report.FaultsByKind);
        Assert.Contains(
            $"Recoveries: 2 (time to recover p50 {RunReport.Milliseconds(times.Min())}, max {RunReport.Milliseconds(times.Max())}); failed: 1",
            report.ToString(),
            StringComparison.Ordinal);
    }
}
