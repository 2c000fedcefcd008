using System.Data.Common;
using TestDbKit.Tests.Common;

namespace TestDbKit.Cli.Tests;

/// <summary><c>testdbkit fault</c> for the whole-server faults, done by the <c>testdbkit serve</c> that owns the
/// server: crash and restart return once the server answers again; freeze and exhaust are held until signalled,
/// and the owner undoes a held fault also when the fault process dies.</summary>
public sealed class FaultServerTests(Served served) : IClassFixture<Served>
{
    [Theory]
    [InlineData(DbEngine.PostgreSql, "crash")]
    [InlineData(DbEngine.MySql, "restart")]
    public async Task Crash_and_restart_end_every_session_and_return_once_the_server_answers(DbEngine engine, string kind)
    {
        var serve = await served.GetAsync(engine);
        await using var victim = await Sessions.OpenAsync(engine, serve.TestConnectionString);
        await victim.ExecuteAsync("SELECT 1");

        var (code, stdout, stderr) = await CliProcess.RunAsync("fault", kind, "--connection", serve.AdminUrl, "--json");
        Assert.True(code == 0, stderr);
        Assert.Contains("server answers again after", stdout, StringComparison.Ordinal);
        await Expect.ConnectionLostAsync(() => victim.ExecuteAsync("SELECT 1"), $"a session open across the {kind}");
        await using var after = await Sessions.OpenAsync(engine, serve.TestConnectionString);
        await after.ExecuteAsync("SELECT 1");
    }

    [Fact]
    public async Task Freeze_holds_until_SIGTERM_then_the_server_answers()
    {
        var serve = await served.GetAsync(DbEngine.PostgreSql);
        await using var fault = FaultProcess.Start("fault", "freeze", "--connection", serve.AdminUrl, "--json");
        Assert.Equal("started", (await fault.NextAsync()).GetProperty("event").GetString());
        await Assert.ThrowsAnyAsync<Exception>(() => Sessions.OpenAsync(DbEngine.PostgreSql, serve.TestConnectionString)); // frozen: no answer in 5 s

        await fault.StopAsync();
        await using var after = await Sessions.OpenAsync(DbEngine.PostgreSql, serve.TestConnectionString);
        await after.ExecuteAsync("SELECT 1");
    }

    [Fact]
    public async Task A_freeze_whose_fault_process_was_killed_is_undone_by_the_owner()
    {
        var serve = await served.GetAsync(DbEngine.PostgreSql);
        await using var fault = FaultProcess.Start("fault", "freeze", "--connection", serve.AdminUrl, "--json");
        Assert.Equal("started", (await fault.NextAsync()).GetProperty("event").GetString());
        await Assert.ThrowsAnyAsync<Exception>(() => Sessions.OpenAsync(DbEngine.PostgreSql, serve.TestConnectionString)); // premise: frozen

        fault.Signal("KILL"); // no chance to undo anything itself
        await fault.ExitAsync();
        await Expect.EventuallyAsync(async () =>
        {
            try
            {
                await using var session = await Sessions.OpenAsync(DbEngine.PostgreSql, serve.TestConnectionString);
                return true;
            }
            catch (Exception e) when (e is DbException or TimeoutException or IOException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(30), "the server answers again after the fault process died");
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task Exhaust_refuses_new_sessions_for_the_hold(DbEngine engine)
    {
        var serve = await served.GetAsync(engine);
        await using var fault = FaultProcess.Start("fault", "exhaust", "--connection", serve.AdminUrl, "--hold", "60s", "--json");
        Assert.Equal("started", (await fault.NextAsync()).GetProperty("event").GetString());
        var refused = await Assert.ThrowsAnyAsync<DbException>(() => Sessions.OpenAsync(engine, serve.TestConnectionString));
        Assert.Contains("too many", refused.Message, StringComparison.OrdinalIgnoreCase);

        await fault.StopAsync();
        await using var after = await Sessions.OpenAsync(engine, serve.TestConnectionString);
        await after.ExecuteAsync("SELECT 1");
    }
}
