using System.Data.Common;
using System.Diagnostics;
using TestDbKit.Tests.Common;

namespace TestDbKit.Cli.Tests;

/// <summary><c>testdbkit fault</c> for the faults on sessions (kill, kill-idle, kill-busy, kill-session, cancel) and
/// the table lock: each proven on the server (the session really died, the lock really blocks) and limited to the
/// named database.</summary>
public sealed class FaultSessionTests(Served served) : IClassFixture<Served>
{
    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task Kill_with_a_database_ends_its_sessions_and_no_neighbours(DbEngine engine)
    {
        var serve = await served.GetAsync(engine);
        var target = await Sessions.NewKitDatabaseAsync(serve, engine);
        var neighbour = await Sessions.NewKitDatabaseAsync(serve, engine);
        await using var victim = await Sessions.OpenAsync(engine, serve.TestConnectionStringFor(engine, target));
        await using var bystander = await Sessions.OpenAsync(engine, serve.TestConnectionStringFor(engine, neighbour));
        await victim.ExecuteAsync("SELECT 1");
        await bystander.ExecuteAsync("SELECT 1");

        var (code, stdout, stderr) = await CliProcess.RunAsync("fault", "kill", "--connection", serve.AdminUrl, "--database", target, "--json");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["started", "ended"], lines.Select(l => l.GetProperty("event").GetString()));
        Assert.True(lines[1].GetProperty("count").GetInt32() >= 1, stdout);

        await Expect.ConnectionLostAsync(() => victim.ExecuteAsync("SELECT 1"), "the session of the named database");
        await bystander.ExecuteAsync("SELECT 1"); // the neighbour's session lives on
    }

    [Theory]
    [InlineData("kill-idle")]
    [InlineData("kill-busy")]
    public async Task Kill_idle_and_kill_busy_pick_their_sessions(string kind)
    {
        const DbEngine engine = DbEngine.PostgreSql;
        var serve = await served.GetAsync(engine);
        var target = await Sessions.NewKitDatabaseAsync(serve, engine);
        await using var idle = await Sessions.OpenAsync(engine, serve.TestConnectionStringFor(engine, target));
        await using var busy = await Sessions.OpenAsync(engine, serve.TestConnectionStringFor(engine, target));
        await idle.ExecuteAsync("SELECT 1");
        await using var transaction = await busy.BeginTransactionAsync();
        await busy.ExecuteAsync("INSERT INTO notes (id) VALUES (1)", transaction);

        var (code, _, stderr) = await CliProcess.RunAsync("fault", kind, "--connection", serve.AdminUrl, "--database", target);
        Assert.True(code == 0, stderr);

        var (dead, alive) = kind == "kill-idle" ? (idle, busy) : (busy, idle);
        await Expect.ConnectionLostAsync(() => dead.ExecuteAsync("SELECT 1"), $"the session {kind} picks");
        await alive.ExecuteAsync("SELECT 1");
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task Kill_session_ends_that_session_only_and_refuses_one_outside_the_kits_databases(DbEngine engine)
    {
        var serve = await served.GetAsync(engine);
        var target = await Sessions.NewKitDatabaseAsync(serve, engine);
        await using var victim = await Sessions.OpenAsync(engine, serve.TestConnectionStringFor(engine, target));
        await using var other = await Sessions.OpenAsync(engine, serve.TestConnectionStringFor(engine, target));
        var id = await victim.SessionIdAsync(engine);

        var (code, _, stderr) = await CliProcess.RunAsync("fault", "kill-session", "--connection", serve.AdminUrl, "--session", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(code == 0, stderr);
        await Expect.ConnectionLostAsync(() => victim.ExecuteAsync("SELECT 1"), "the session named by --session");
        await other.ExecuteAsync("SELECT 1");

        // The administrator's own session is on no kit database: refused, and it lives on.
        await using var admin = await Sessions.OpenAsync(engine, serve.ConnectionString);
        var adminId = await admin.SessionIdAsync(engine);
        (code, _, stderr) = await CliProcess.RunAsync("fault", "kill-session", "--connection", serve.AdminUrl, "--session", adminId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(3, code);
        Assert.Contains("no client session of", stderr, StringComparison.Ordinal);
        await admin.ExecuteAsync("SELECT 1");
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql, "SELECT pg_sleep(60)")]
    [InlineData(DbEngine.MySql, "SELECT SLEEP(60)")]
    public async Task Cancel_stops_the_running_statement_and_the_session_lives_on(DbEngine engine, string sleep)
    {
        var serve = await served.GetAsync(engine);
        var target = await Sessions.NewKitDatabaseAsync(serve, engine);
        await using var session = await Sessions.OpenAsync(engine, serve.TestConnectionStringFor(engine, target));
        var id = await session.SessionIdAsync(engine);
        var clock = Stopwatch.StartNew();
        var running = Task.Run(async () =>
        {
            try
            {
                await session.ScalarAsync(sleep);
            }
            catch (DbException)
            {
                // PostgreSQL reports the cancel (57014); MariaDB's SLEEP just returns early.
            }
        });
        await using (var admin = await Sessions.OpenAsync(engine, serve.ConnectionString))
        {
            var sql = engine == DbEngine.PostgreSql
                ? $"SELECT count(*) FROM pg_stat_activity WHERE pid = {id} AND state = 'active'"
                : $"SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = {id} AND INFO LIKE 'SELECT SLEEP%'";
            await Expect.EventuallyAsync(async () => Convert.ToInt64(await admin.ScalarAsync(sql)) == 1, TimeSpan.FromSeconds(30), "the statement did not start");
        }

        var (code, _, stderr) = await CliProcess.RunAsync("fault", "cancel", "--connection", serve.AdminUrl, "--session", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(code == 0, stderr);
        await running.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(50), "the statement ran to its end: it was not cancelled");
        await session.ExecuteAsync("SELECT 1");
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task Lock_blocks_other_sessions_on_the_table_until_the_hold_ends(DbEngine engine)
    {
        var serve = await served.GetAsync(engine);
        var target = await Sessions.NewKitDatabaseAsync(serve, engine);
        var shortWait = engine == DbEngine.PostgreSql ? "SET lock_timeout = '300ms'" : "SET SESSION lock_wait_timeout = 1";
        await using var fault = FaultProcess.Start("fault", "lock", "--connection", serve.AdminUrl, "--database", target, "--table", "notes", "--json");
        var started = await fault.NextAsync();
        Assert.Equal("started", started.GetProperty("event").GetString());

        await using (var blocked = await Sessions.OpenAsync(engine, serve.TestConnectionStringFor(engine, target)))
        {
            await blocked.ExecuteAsync(shortWait);
            await Assert.ThrowsAnyAsync<DbException>(() => blocked.ExecuteAsync("SELECT count(*) FROM notes"));
        }

        await fault.StopAsync();
        await using var free = await Sessions.OpenAsync(engine, serve.TestConnectionStringFor(engine, target));
        await free.ExecuteAsync(shortWait);
        await free.ScalarAsync("SELECT count(*) FROM notes");
    }
}
