using System.Data.Common;
using System.Text.Json;
using TestDbKit.Tests.Common;

namespace TestDbKit.Cli.Tests;

/// <summary><c>testdbkit fault</c> for the faults that change a kit database's settings (the timeouts, read-only):
/// in effect for new sessions of the named database once the started line is out, not for its neighbour, and
/// undone when the hold ends or the process is signalled.</summary>
public sealed class FaultSettingTests(Served served) : IClassFixture<Served>
{
    [Theory]
    [InlineData(DbEngine.PostgreSql, "idle")]
    [InlineData(DbEngine.PostgreSql, "idle-in-transaction")]
    [InlineData(DbEngine.PostgreSql, "statement-timeout")]
    [InlineData(DbEngine.MySql, "idle")]
    [InlineData(DbEngine.MySql, "idle-in-transaction")]
    [InlineData(DbEngine.MySql, "statement-timeout")]
    public async Task A_timeout_fault_sets_the_value_on_one_database_until_SIGTERM_then_undoes_it(DbEngine engine, string kind)
    {
        var serve = await served.GetAsync(engine);
        var target = await Sessions.NewKitDatabaseAsync(serve, engine);
        var neighbour = await Sessions.NewKitDatabaseAsync(serve, engine);
        var before = await Sessions.TimeoutSecondsAsync(engine, serve, target, kind);
        Assert.NotEqual(3, before); // premise: the value the fault sets is not the default

        await using var fault = FaultProcess.Start("fault", kind, "--connection", serve.AdminUrl, "--database", target, "--value", "3s", "--json");
        var started = await fault.NextAsync();
        Assert.Equal("started", started.GetProperty("event").GetString());
        Assert.Equal(kind, started.GetProperty("fault").GetString());
        Assert.Equal(target, started.GetProperty("target").GetString());
        Assert.Equal("3s", started.GetProperty("value").GetString());
        Assert.True(DateTime.TryParse(started.GetProperty("time").GetString(), out _));

        Assert.Equal(3, await Sessions.TimeoutSecondsAsync(engine, serve, target, kind));
        Assert.Equal(before, await Sessions.TimeoutSecondsAsync(engine, serve, neighbour, kind));

        var ended = await fault.StopAsync();
        Assert.Equal(target, ended.GetProperty("target").GetString());
        Assert.Equal(JsonValueKind.Null, ended.GetProperty("count").ValueKind);
        Assert.Equal(before, await Sessions.TimeoutSecondsAsync(engine, serve, target, kind));
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task The_idle_fault_really_ends_a_test_session_left_idle(DbEngine engine)
    {
        var serve = await served.GetAsync(engine);
        var target = await Sessions.NewKitDatabaseAsync(serve, engine);
        await using var fault = FaultProcess.Start("fault", "idle", "--connection", serve.AdminUrl, "--database", target, "--value", "1s", "--hold", "60s", "--json");
        await fault.NextAsync(); // started

        await using var session = await Sessions.OpenAsync(engine, serve.TestConnectionStringFor(engine, target));
        var id = await session.SessionIdAsync(engine);
        await using (var admin = await Sessions.OpenAsync(engine, serve.ConnectionString))
        {
            var sql = engine == DbEngine.PostgreSql ? $"SELECT count(*) FROM pg_stat_activity WHERE pid = {id}" : $"SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = {id}";
            Assert.Equal(1L, Convert.ToInt64(await admin.ScalarAsync(sql))); // premise: it lived
            await Expect.EventuallyAsync(async () => Convert.ToInt64(await admin.ScalarAsync(sql)) == 0, TimeSpan.FromSeconds(30), "the idle session was not ended");
        }

        await Expect.ConnectionLostAsync(() => session.ExecuteAsync("SELECT 1"), "the session left idle past the fault's timeout");
        fault.Signal("INT");
        Assert.Equal(0, (await fault.ExitAsync()).Code);
    }

    [Fact]
    public async Task The_idle_fault_also_ends_a_session_MySqlConnector_reset_from_its_pool()
    {
        // MySqlConnector's default ConnectionReset puts a reused pooled session back on the server's global
        // wait_timeout; the tool's watcher must still end it once it outstays the fault's timeout.
        var serve = await served.GetAsync(DbEngine.MySql);
        var target = await Sessions.NewKitDatabaseAsync(serve, DbEngine.MySql);
        var pooled = new MySqlConnector.MySqlConnectionStringBuilder(serve.TestConnectionStringFor(DbEngine.MySql, target))
        {
            Pooling = true, ConnectionReset = true, ApplicationName = "reset-" + target,
        }.ConnectionString;
        await using var fault = FaultProcess.Start("fault", "idle", "--connection", serve.AdminUrl, "--database", target, "--value", "1s", "--hold", "60s", "--json");
        Assert.Equal("started", (await fault.NextAsync()).GetProperty("event").GetString());

        await using var session = new MySqlConnector.MySqlConnection(pooled);
        try
        {
            await session.OpenAsync();
            var id = await session.SessionIdAsync(DbEngine.MySql);
            await session.CloseAsync();
            await session.OpenAsync(); // the pool hands back the same session, reset
            Assert.Equal(id, await session.SessionIdAsync(DbEngine.MySql)); // premise: reused, not new
            Assert.NotEqual(1L, Convert.ToInt64(await session.ScalarAsync("SELECT @@session.wait_timeout"))); // premise: the reset took the setting away

            await using (var admin = await Sessions.OpenAsync(DbEngine.MySql, serve.ConnectionString))
            {
                var sql = $"SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = {id}";
                await Expect.EventuallyAsync(async () => Convert.ToInt64(await admin.ScalarAsync(sql)) == 0, TimeSpan.FromSeconds(30), "the reset session left idle was not ended");
            }

            await Expect.ConnectionLostAsync(() => session.ExecuteAsync("SELECT 1"), "the reset session left idle past the fault's timeout");
        }
        finally
        {
            MySqlConnector.MySqlConnection.ClearPool(session);
        }

        fault.Signal("INT");
        Assert.Equal(0, (await fault.ExitAsync()).Code);
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task Read_only_refuses_writes_on_one_database_for_the_hold_then_is_undone(DbEngine engine)
    {
        var serve = await served.GetAsync(engine);
        var target = await Sessions.NewKitDatabaseAsync(serve, engine);
        var neighbour = await Sessions.NewKitDatabaseAsync(serve, engine);
        await using var fault = FaultProcess.Start("fault", "read-only", "--connection", serve.ConnectionString, "--engine", Served.Key(engine),
            "--database", target, "--hold", "60s", "--json");
        Assert.Equal("started", (await fault.NextAsync()).GetProperty("event").GetString());

        await using (var session = await Sessions.OpenAsync(engine, serve.TestConnectionStringFor(engine, target)))
        {
            await Assert.ThrowsAnyAsync<DbException>(() => session.ExecuteAsync("INSERT INTO notes (id) VALUES (1)"));
        }

        await using (var other = await Sessions.OpenAsync(engine, serve.TestConnectionStringFor(engine, neighbour)))
        {
            await other.ExecuteAsync("INSERT INTO notes (id) VALUES (1)");
        }

        await fault.StopAsync();
        await using var after = await Sessions.OpenAsync(engine, serve.TestConnectionStringFor(engine, target));
        await after.ExecuteAsync("INSERT INTO notes (id) VALUES (2)");
    }

    [Fact]
    public async Task A_hold_ends_on_its_own_and_undoes_the_fault()
    {
        var serve = await served.GetAsync(DbEngine.PostgreSql);
        var target = await Sessions.NewKitDatabaseAsync(serve, DbEngine.PostgreSql);
        var (code, stdout, stderr) = await CliProcess.RunAsync("fault", "statement-timeout", "--connection", serve.AdminUrl, "--database", target,
            "--value", "2s", "--hold", "300ms");
        Assert.True(code == 0, stderr);
        Assert.Contains($"started statement-timeout on {target} (2s)", stdout, StringComparison.Ordinal);
        Assert.Contains($"ended   statement-timeout on {target}", stdout, StringComparison.Ordinal);
        Assert.Equal(0, await Sessions.TimeoutSecondsAsync(DbEngine.PostgreSql, serve, target, "statement-timeout"));
    }
}
