using System.Data.Common;
using TestDbKit.Diagnostics;
using TestDbKit.Faults;
using TestDbKit.Tests.Databases;

namespace TestDbKit.Tests.Diagnostics;

/// <summary>The run report collects what the process did. Tests run in parallel and all add to the process's
/// report, so each test here opens a <see cref="RunScope"/> and asserts the exact figures of what it did itself:
/// another test's faults, errors and recoveries, on its own flow, can neither make these pass nor fail.</summary>
public sealed class RunReportTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_recovery_is_reported_with_the_fault_the_error_and_the_time_to_recover(DbEngine engine)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();
        await using var doomed = await db.OpenConnectionAsync();
        using var scope = RunScope.Begin();

        await db.Faults.KillSessionAsync(doomed);
        var result = await Resilience.AssertRecoversAsync(
            async ct =>
            {
                try
                {
                    await doomed.ScalarAsync("SELECT 1");
                    Assert.Fail("The killed session answered.");
                }
                catch (DbException e) when (DbErrors.IsTransient(e))
                {
                    await using var fresh = await db.OpenConnectionAsync(ct);
                    await fresh.ScalarAsync("SELECT 1");
                }
            },
            TimeSpan.FromSeconds(10),
            minimumErrors: 1);

        var mine = scope.Capture();
        Assert.Equal(new Dictionary<string, int> { ["kill-session"] = 1 }, mine.FaultsByKind);
        Assert.Equal(db.Name, Assert.Single(mine.Faults).Target);

        // Every error the operation met was the lost connection, and the report counts exactly those.
        Assert.Equal(["connection lost"], mine.ErrorsByClassification.Keys);
        Assert.All(result.Errors, e => Assert.Equal("connection lost", e.Classification));
        Assert.Equal(mine.Errors.Count, mine.ErrorsByClassification["connection lost"]);
        Assert.InRange(mine.ErrorsByClassification["connection lost"], result.Errors.Count, result.Errors.Count + 1);

        // One recovery, and its time is the one the assertion measured.
        var time = Assert.Single(mine.RecoveryTimes);
        Assert.Equal(result.TimeToRecover, time);
        Assert.InRange(time, TimeSpan.FromTicks(1), result.Elapsed);
        Assert.Equal(0, mine.FailedRecoveries);
        Assert.Equal(0, mine.Tests);
        var ms = RunReport.Milliseconds(time);
        Assert.Contains($"Recoveries: 1 (time to recover p50 {ms}, max {ms}); failed: 0", mine.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_scope_counts_what_happens_on_its_own_flow_and_nothing_of_a_test_beside_it()
    {
        using var scope = RunScope.Begin();
        var mine = new TimeoutException("mine");
        Assert.True(DbErrors.IsTransient(mine));
        FaultLog.Record(FaultCatalogue.Get<KillSession>(), "mine");
        await Task.Run(() => RunLog.Recovery(TimeSpan.FromMilliseconds(7), recovered: true, "mine")); // a task it starts is its own

        // Another test: its own flow, which never saw this scope (the flow is not passed on).
        var theirs = new TimeoutException("theirs");
        Task other;
        using (ExecutionContext.SuppressFlow())
        {
            other = Task.Run(() =>
            {
                Assert.True(DbErrors.IsTransient(theirs));
                FaultLog.Record(FaultCatalogue.Get<KillSession>(), "theirs");
                FaultLog.Record(FaultCatalogue.Get<HoldLock>(), "theirs", "theirs");
                RunLog.Recovery(TimeSpan.FromMilliseconds(9), recovered: false, "theirs");
            });
        }

        await other;

        // Premise: the other flow's events were recorded, in the process's report.
        Assert.Contains(FaultLog.All, f => f.Target == "theirs");
        Assert.Contains(RunLog.ErrorsSoFar, e => e.Message == "theirs");
        Assert.Contains(RunLog.RecoveriesSoFar, r => r.What == "theirs");

        var report = scope.Capture();
        Assert.Equal(new Dictionary<string, int> { ["kill-session"] = 1 }, report.FaultsByKind);
        Assert.Equal(new Dictionary<string, int> { ["other transient"] = 1 }, report.ErrorsByClassification);
        Assert.Equal([TimeSpan.FromMilliseconds(7)], report.RecoveryTimes);
        Assert.Equal(0, report.FailedRecoveries);

        // A closed scope records nothing more.
        scope.Dispose();
        FaultLog.Record(FaultCatalogue.Get<KillSession>(), "after");
        Assert.Equal(1, scope.Capture().FaultsByKind["kill-session"]);
    }

    [Fact]
    public async Task Everything_from_data_is_html_encoded_and_the_page_needs_nothing_from_elsewhere()
    {
        using var scope = RunScope.Begin();
        FaultLog.Record(FaultCatalogue.Get<HoldLock>(), "db\"&'", "<script>alert(1)</script>");
        RunLog.ClientError(new InvalidOperationException("<img src=x onerror=alert(2)>"));
        var path = Path.Combine(Path.GetTempPath(), $"tdk-report-{Guid.NewGuid():N}", "nested", "report.html");
        await scope.Capture().WriteHtmlAsync(path);

        var html = await File.ReadAllTextAsync(path);
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("&lt;script&gt;alert(1)&lt;/script&gt;", html, StringComparison.Ordinal);
        Assert.Contains("&lt;img src=x onerror=alert(2)&gt;", html, StringComparison.Ordinal);
        Assert.Contains("db&quot;&amp;&#39;", html, StringComparison.Ordinal);
        foreach (var external in new[] { "<link", "src=\"", "url(", "@import", "https://" })
        {
            Assert.DoesNotContain(external, html, StringComparison.OrdinalIgnoreCase);
        }

        Directory.Delete(Path.GetDirectoryName(Path.GetDirectoryName(path))!, recursive: true);
    }

    [Fact]
    public void Events_drawn_on_one_pixel_of_the_timeline_are_one_mark_that_says_how_many_it_stands_for()
    {
        using var scope = RunScope.Begin();
        for (var i = 0; i < 2_000; i++)
        {
            FaultLog.Record(FaultCatalogue.Get<HoldLock>(), "t", "pixel-test");
        }

        var html = RunReportHtml.Render(scope.Capture());
        var marks = System.Text.RegularExpressions.Regex.Matches(html, @"<title>[\d:.]+ lock pixel-test on t(?: \(and (\d+) more here\))?</title>");
        Assert.InRange(marks.Count, 1, 800); // at most one per pixel of the 750-pixel plot
        Assert.Equal(2_000, marks.Sum(m => 1 + (m.Groups[1].Success ? int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : 0)));
    }

    [Fact]
    public void An_error_is_counted_once_however_often_a_client_asks_about_it()
    {
        using var scope = RunScope.Begin();
        var error = new TimeoutException("slow");
        Assert.True(DbErrors.IsTransient(error));
        Assert.False(DbErrors.IsConnectionLost(error));
        Assert.False(DbErrors.IsIntegrityViolation(error));

        Assert.Equal(new Dictionary<string, int> { ["other transient"] = 1 }, scope.Capture().ErrorsByClassification);
        Assert.Equal("other transient", RunLog.Classification(error));
    }

    [Theory]
    [InlineData("kill", null)]
    [InlineData("idle", "500 ms")]
    [InlineData("idle-in-transaction", "500 ms")]
    [InlineData("lock", "orders")]
    [InlineData("network-latency", "50±25 ms Both")]
    public void A_fault_is_counted_under_its_catalogue_name_whatever_its_detail(string kind, string? detail)
    {
        using var scope = RunScope.Begin();
        var faultKind = TestDbKit.Faults.FaultCatalogue.Find(kind);
        Assert.NotNull(faultKind);

        FaultLog.Record(faultKind, "tdk_report", detail);
        FaultLog.Record(faultKind, "tdk_report", detail is null ? null : detail + " again");

        Assert.Equal(new Dictionary<string, int> { [kind] = 2 }, scope.Capture().FaultsByKind);
    }

    [Theory]
    [InlineData("Orders.Tests.Xunit", "Orders.Tests.Xunit")]
    [InlineData("my tests/../x", "my_tests_.._x")]
    [InlineData("", "testdbkit")]
    public void Report_file_names_stay_inside_the_report_folder(string name, string file) =>
        Assert.Equal(file, RunLog.FileNameOf(name));

    [Theory]
    [InlineData(0, 50)]
    [InlineData(5, 50)]
    [InlineData(40, 200)]
    [InlineData(500, 1000)]
    [InlineData(60_000, 1000)]
    public void The_background_write_waits_five_times_the_last_write_between_50_ms_and_one_second(int lastWriteMs, int waitMs)
    {
        Assert.Equal(TimeSpan.FromSeconds(1), RunLog.MaxDebounce);
        Assert.Equal(TimeSpan.FromMilliseconds(waitMs), RunLog.Debounce(TimeSpan.FromMilliseconds(lastWriteMs)));
    }
}
