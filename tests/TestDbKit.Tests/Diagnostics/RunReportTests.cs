using System.Data.Common;
using TestDbKit.Diagnostics;
using TestDbKit.Tests.Databases;

namespace TestDbKit.Tests.Diagnostics;

/// <summary>The run report collects what the process did. Its state is process-wide and other tests add to it
/// at the same time, so these tests compare counts before and after.</summary>
public sealed class RunReportTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_recovery_is_reported_with_the_fault_the_error_and_the_time_to_recover(DbEngine engine)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();
        await using var doomed = await db.OpenConnectionAsync();
        var before = RunReport.Capture();

        var clock = System.Diagnostics.Stopwatch.StartNew();
        await db.Faults.KillSessionAsync(doomed);
        await Resilience.AssertRecoversAsync(
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
            TimeSpan.FromSeconds(10));
        var took = clock.Elapsed;

        var after = RunReport.Capture();
        Assert.True(after.FaultsByKind["kill session"] > before.FaultsByKind.GetValueOrDefault("kill session"));
        Assert.True(after.ErrorsByClassification["connection lost"] > before.ErrorsByClassification.GetValueOrDefault("connection lost"));
        Assert.True(after.RecoveryTimes.Count > before.RecoveryTimes.Count);
        var mine = after.RecoveryTimes[^1];
        Assert.InRange(mine, TimeSpan.FromTicks(1), took);
        Assert.Contains("Recoveries: ", after.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Everything_from_data_is_html_encoded_and_the_page_needs_nothing_from_elsewhere()
    {
        FaultLog.Record("<script>alert(1)</script>", "db\"&'");
        RunLog.ClientError(new InvalidOperationException("<img src=x onerror=alert(2)>"));
        var path = Path.Combine(Path.GetTempPath(), $"tdk-report-{Guid.NewGuid():N}", "nested", "report.html");
        await RunReport.Capture().WriteHtmlAsync(path);

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
    public void An_error_is_counted_once_however_often_a_client_asks_about_it()
    {
        var error = new TimeoutException("slow");
        var before = RunReport.Capture().ErrorsByClassification.GetValueOrDefault("other transient");
        Assert.True(DbErrors.IsTransient(error));
        Assert.False(DbErrors.IsConnectionLost(error));
        Assert.False(DbErrors.IsIntegrityViolation(error));
        var after = RunReport.Capture().ErrorsByClassification.GetValueOrDefault("other transient");

        // Other tests may add errors of their own meanwhile, but never take any away.
        Assert.InRange(after - before, 1, int.MaxValue);
        Assert.Equal("other transient", RunLog.Classification(error));
    }

    [Theory]
    [InlineData("kill all sessions", "kill all sessions")]
    [InlineData("Idle timeout 500 ms", "Idle timeout")]
    [InlineData("hold lock on orders", "hold lock")]
    [InlineData("network: latency 50 ms ± 25 ms Both", "network: latency")]
    [InlineData("42", "42")]
    public void Faults_are_grouped_by_kind_without_their_values(string fault, string kind) =>
        Assert.Equal(kind, FaultLog.KindOf(fault));

    [Theory]
    [InlineData("Orders.Tests.Xunit", "Orders.Tests.Xunit")]
    [InlineData("my tests/../x", "my_tests_.._x")]
    [InlineData("", "testdbkit")]
    public void Report_file_names_stay_inside_the_report_folder(string name, string file) =>
        Assert.Equal(file, RunLog.FileNameOf(name));
}
