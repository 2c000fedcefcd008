using System.Data.Common;
using System.Diagnostics;
using MySqlConnector;
using Npgsql;
using TestDbKit.Engines;
using TestDbKit.Tests.Databases;

namespace TestDbKit.Tests.Faults;

/// <summary>
/// Per-test timeouts on the run's shared MySQL server hold on sessions that MySqlConnector's default pool reset
/// (<c>ConnectionReset=true</c>: <c>COM_RESET_CONNECTION</c> on reuse puts the session's variables back to the global
/// values, and <c>init_connect</c> does not run again). Each test first proves that premise on the very session it
/// then idles (the same <c>CONNECTION_ID()</c> after close and reopen, its variable back to the global value), then
/// that the kit's watcher ends it after the timeout as the server would have, that a neighbour database's session on
/// the same server lives on, and that the watcher is gone once the fault is undone. On PostgreSQL the database's
/// settings survive Npgsql's pooled reuse, so there is nothing to enforce.
/// </summary>
public sealed class ResetSessionTimeoutTests
{
    private const DbEngine MySql = DbEngine.MySql;

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);

    [Fact]
    public async Task Idle_timeout_ends_a_session_MySqlConnector_reset_on_reuse_and_spares_the_neighbour_and_goes_with_the_undo()
    {
        await using var pool = await PoolAsync(max: 2);
        await using var neighbour = await pool.LeaseAsync();
        await using var db = await pool.LeaseAsync();
        Assert.True(db.Server.IsShared);
        Assert.True(new MySqlConnectionStringBuilder(db.ConnectionString).ConnectionReset); // the driver's default pool
        var global = await GlobalAsync(db.Server, "wait_timeout");
        Assert.NotEqual(1L, global);

        await using (await db.Faults.SetIdleTimeoutAsync(Timeout))
        {
            var (reused, session) = await ReusedAndResetAsync(db, "wait_timeout", 1L, global);
            await using var beside = await neighbour.OpenConnectionAsync();
            var besideSession = await IdAsync(beside);
            // The kit's own kind of session: the administrator on this very database (resets, checks) is never ended.
            await using var kits = await db.Server.Dialect.OpenAsync(db.Server.ConnectionStringFor(db.Name), CancellationToken.None);
            var kitsSession = await IdAsync(kits);
            var idle = Stopwatch.StartNew();

            await ServerSessions.WaitUntilGoneAsync(db.Server, MySql, session);
            Assert.True(idle.Elapsed >= Timeout, $"ended after {idle.Elapsed.TotalMilliseconds:0} ms idle, before the 1 s timeout");
            var lost = await Expect.ConnectionLostAsync(() => reused.ScalarAsync("SELECT 1"), "the reused session left idle past the timeout");
            Assert.True(DbErrors.IsConnectionLost(lost), $"not classified as a lost connection: {lost}");
            Assert.True(DbErrors.IsTransient(lost));

            // The neighbour's session and the administrator's idle well past the timeout on the same server, and live on.
            var rest = (Timeout * 2.5) - idle.Elapsed;
            if (rest > TimeSpan.Zero)
            {
                await Task.Delay(rest); // idling past the timeout is the point
            }

            Assert.Equal(besideSession, await IdAsync(beside));
            Assert.Equal(kitsSession, await IdAsync(kits));
        }

        // Undone: the watcher is gone, so a reused (reset) session idle well past the old timeout lives on.
        var (survivor, id) = await ReusedAndResetAsync(db, "wait_timeout", global, global);
        await using (survivor)
        {
            await Task.Delay(Timeout * 2.5); // idling past the old timeout is the point
            Assert.Equal(id, await IdAsync(survivor));
        }
    }

    [Fact]
    public async Task Idle_in_transaction_timeout_ends_a_reset_session_idle_in_a_transaction_but_not_one_idle_outside_one_nor_the_neighbours()
    {
        await using var pool = await PoolAsync(max: 2);
        await using var neighbour = await pool.LeaseAsync();
        await using var db = await pool.LeaseAsync();
        var global = await GlobalAsync(db.Server, "idle_transaction_timeout");
        Assert.NotEqual(1L, global);

        await using (await db.Faults.SetIdleInTransactionTimeoutAsync(Timeout))
        {
            var (reused, session) = await ReusedAndResetAsync(db, "idle_transaction_timeout", 1L, global);
            await using var outside = await db.OpenConnectionAsync(); // idle, in no transaction: the timeout does not apply
            var outsideSession = await IdAsync(outside);
            await using var beside = await neighbour.OpenConnectionAsync();
            await using var besideTransaction = await beside.BeginTransactionAsync();
            await beside.ExecuteAsync("INSERT INTO items (tag) VALUES ('neighbour')", besideTransaction);

            await using var transaction = await reused.BeginTransactionAsync();
            await reused.ExecuteAsync("INSERT INTO items (tag) VALUES ('idle in a transaction')", transaction);
            var idle = Stopwatch.StartNew();
            await ServerSessions.WaitUntilGoneAsync(db.Server, MySql, session);
            Assert.True(idle.Elapsed >= Timeout, $"ended after {idle.Elapsed.TotalMilliseconds:0} ms idle, before the 1 s timeout");
            var lost = await Expect.ConnectionLostAsync(
                () => reused.ExecuteAsync("INSERT INTO items (tag) VALUES ('lost')", transaction), "the reused session idle in a transaction");
            Assert.True(DbErrors.IsConnectionLost(lost), $"not classified as a lost connection: {lost}");

            // Idle as long outside a transaction, and the neighbour idle as long inside one: both live on.
            Assert.Equal(outsideSession, await IdAsync(outside));
            await beside.ExecuteAsync("INSERT INTO items (tag) VALUES ('still here')", besideTransaction);
            Assert.Equal(2L, Convert.ToInt64(await beside.ScalarAsync("SELECT COUNT(*) FROM items", besideTransaction)));
            await besideTransaction.RollbackAsync();
        }
    }

    [Fact]
    public async Task Statement_timeout_interrupts_a_long_statement_on_a_reset_session_and_not_the_neighbours()
    {
        await using var pool = await PoolAsync(max: 2);
        await using var neighbour = await pool.LeaseAsync();
        await using var db = await pool.LeaseAsync();
        var limit = TimeSpan.FromMilliseconds(500);
        Assert.Equal(0.0, Convert.ToDouble(await db.Server.ScalarAsync("SELECT @@GLOBAL.max_statement_time")));

        await using (await db.Faults.SetStatementTimeoutAsync(limit))
        {
            var (reused, session) = await ReusedAndResetAsync(db, "max_statement_time", 0.5, 0.0);
            await using var beside = await neighbour.OpenConnectionAsync();
            var slow = beside.ScalarAsync(SlowStatement(seconds: 2)); // longer than the limit, on the neighbour

            var running = Stopwatch.StartNew();
            var e = await Assert.ThrowsAsync<MySqlException>(() => reused.ScalarAsync(SlowStatement(seconds: 10)));
            Assert.InRange(running.Elapsed, limit, TimeSpan.FromSeconds(8));
            Assert.Equal(1317, e.Number); // Query execution was interrupted: the watcher's KILL QUERY (the server's own would be 1969)
            Assert.False(DbErrors.IsConnectionLost(e));
            Assert.False(DbErrors.IsTransient(e));
            Assert.Equal(System.Data.ConnectionState.Open, reused.State);
            Assert.Equal(session, await IdAsync(reused)); // the session lives on

            Assert.Equal(0L, Convert.ToInt64(await slow)); // not interrupted
        }
    }

    [Fact]
    public async Task PostgreSQL_database_settings_survive_Npgsqls_pooled_reuse_so_there_is_nothing_to_enforce()
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(DbEngine.PostgreSql), new DatabasePoolOptions { MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();
        Assert.False(new NpgsqlConnectionStringBuilder(db.ConnectionString).NoResetOnClose); // Npgsql resets on reuse (DISCARD ALL)
        await using (await db.Faults.SetStatementTimeoutAsync(TimeSpan.FromSeconds(7)))
        {
            int pid;
            await using (var first = (NpgsqlConnection)await db.OpenConnectionAsync())
            {
                pid = first.ProcessID;
                Assert.Equal("7s", Convert.ToString(await first.ScalarAsync("SHOW statement_timeout")));
                await first.ExecuteAsync("SET statement_timeout = 12345"); // a session value the reset must take away
            }

            await using var reused = (NpgsqlConnection)await db.OpenConnectionAsync();
            Assert.Equal(pid, Convert.ToInt32(await reused.ScalarAsync("SELECT pg_backend_pid()"))); // the same session
            Assert.Equal("7s", Convert.ToString(await reused.ScalarAsync("SHOW statement_timeout"))); // reset, to the database's value
        }

        var request = new TimeoutEnforcement(db.Server.AdminConnectionString, db.Name, "postgres", TimeoutKind.Idle, Timeout,
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, null);
        Assert.Null(await db.Server.Dialect.EnforceDatabaseTimeoutAsync(request, CancellationToken.None));
    }

    [Fact]
    public async Task The_watcher_stops_by_itself_when_the_setting_is_undone_elsewhere()
    {
        await using var pool = await PoolAsync(max: 1);
        await using var db = await pool.LeaseAsync();
        var (set, undo) = db.Server.Dialect.DatabaseTimeoutSql(db.Name, TimeoutKind.Idle, Timeout)!.Value;
        await db.Server.ScalarAsync(set);
        var log = new LogCollector();
        await using var enforcer = (MySqlTimeoutEnforcer)(await db.Server.Dialect.EnforceDatabaseTimeoutAsync(
            new TimeoutEnforcement(db.Server.AdminConnectionString, db.Name, "tdk_app", TimeoutKind.Idle, Timeout, log.CreateLogger("test"), null),
            CancellationToken.None))!;
        Assert.False(enforcer.Stopped.IsCompleted); // the premise: it runs while the setting is there

        await db.Server.ScalarAsync(undo); // as testdbkit, a crashed run's janitor or a dropped database would
        await enforcer.Stopped.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.DoesNotContain(log.Entries, e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning);
    }

    [Fact]
    public async Task The_watcher_survives_its_server_going_away_warns_once_and_stops_promptly()
    {
        var server = await DbServer.StartAsync(MySql, new DbServerOptions { Provider = DbServerProvider.Local });
        MySqlTimeoutEnforcer enforcer;
        var log = new LogCollector();
        try
        {
            await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { MaxDatabases = 1 });
            await using var db = await pool.LeaseAsync();
            await server.ScalarAsync(server.Dialect.DatabaseTimeoutSql(db.Name, TimeoutKind.Idle, Timeout)!.Value.Set);
            enforcer = (MySqlTimeoutEnforcer)(await server.Dialect.EnforceDatabaseTimeoutAsync(
                new TimeoutEnforcement(server.AdminConnectionString, db.Name, "tdk_app", TimeoutKind.Idle, Timeout, log.CreateLogger("test"), null),
                CancellationToken.None))!;

            // The premise: it works here. A test session that has lost the setting (as a reset would take it) is ended.
            await using var session = await db.OpenConnectionAsync();
            await session.ExecuteAsync("SET SESSION wait_timeout = @@GLOBAL.wait_timeout");
            await ServerSessions.WaitUntilGoneAsync(server, MySql, await IdAsync(session));
            Assert.True(enforcer.Ended >= 1);
        }
        finally
        {
            await server.DisposeAsync(); // the server goes away under the watcher
        }

        await TestSupport.EventuallyAsync(() => log.Entries.Any(e => e.Message.StartsWith("Could not enforce", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(20), "the watcher should warn that it cannot reach the server");
        await Task.Delay(TimeSpan.FromSeconds(1.5)); // a few more failing polls (with back-off), which must not warn again
        Assert.False(enforcer.Stopped.IsCompleted, "the watcher should keep trying while the fault lasts");
        var stopping = Stopwatch.StartNew();
        await enforcer.DisposeAsync(); // never throws
        Assert.True(enforcer.Stopped.IsCompleted);
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(10), $"stopping took {stopping.Elapsed}");
        Assert.Single(log.Entries, e => e.Message.StartsWith("Could not enforce", StringComparison.Ordinal));
        Assert.Contains(log.Entries, e => e.Level == Microsoft.Extensions.Logging.LogLevel.Warning && e.Message.Contains("was failing from", StringComparison.Ordinal));
        Assert.DoesNotContain(log.Entries, e => e.Message.Contains(server.Dialect.PasswordOf(server.AdminConnectionString)!, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_fault_left_on_by_a_failing_test_takes_its_watcher_with_it_when_the_lease_ends()
    {
        await using var pool = await PoolAsync(max: 1);
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(async () =>
        {
            await using var db = await pool.LeaseAsync();
            _ = await db.Faults.SetIdleTimeoutAsync(Timeout); // never disposed by the test
            var (reused, session) = await ReusedAndResetAsync(db, "wait_timeout", 1L, await GlobalAsync(db.Server, "wait_timeout"));
            await using (reused)
            {
                await ServerSessions.WaitUntilGoneAsync(db.Server, MySql, session); // the premise: the watcher runs
            }

            throw new InvalidOperationException("the test failed");
        });
        Assert.Equal("the test failed", failure.Message);

        // The same database, leased again: the watcher went with the lease, so a reset session idles past the old timeout.
        await using var next = await pool.LeaseAsync();
        var (survivor, id) = await ReusedAndResetAsync(next, "wait_timeout", await GlobalAsync(next.Server, "wait_timeout"), await GlobalAsync(next.Server, "wait_timeout"));
        await using (survivor)
        {
            await Task.Delay(Timeout * 2.5); // idling past the old timeout is the point
            Assert.Equal(id, await IdAsync(survivor));
        }
    }

    [Theory]
    [InlineData(1317)] // KILL QUERY: the watcher on a reset session
    [InlineData(1969)] // MariaDB's own max_statement_time
    [InlineData(3024)] // MySQL 8's own max_execution_time
    public void A_statement_stopped_by_the_server_or_by_the_watcher_is_the_statements_own_verdict(int number)
    {
        // Their SQLSTATE is 70100, which no rule for lost connections (08) or constraints (23) may catch.
        Assert.Equal(ErrorKind.None, MySqlDialect.ClassifyNumber(number, "70100"));
    }

    [Theory]
    [InlineData(1927, "70100")] // a KILL CONNECTION the server reports
    [InlineData(2013, "HY000")] // lost connection during query (a closed socket, PyMySQL after wait_timeout)
    [InlineData(2006, "HY000")] // server has gone away
    [InlineData(4031, "HY000")] // MySQL 8.0.24+: disconnected by the server because of inactivity
    public void A_session_ended_by_the_server_or_by_the_watcher_is_a_lost_connection(int number, string sqlState) =>
        Assert.Equal(ErrorKind.ConnectionLost | ErrorKind.Transient, MySqlDialect.ClassifyNumber(number, sqlState));

    [Fact]
    public void The_watcher_polls_in_proportion_to_the_timeout_and_acts_no_earlier_than_the_server()
    {
        var mariaDb = new ServerFlavour(ServerKind.MariaDb, HasRowCounters: true, ListsLocksLive: true, StatementTimeoutCoversAll: true);
        Assert.Equal(TimeSpan.FromMilliseconds(250), MySqlTimeoutEnforcer.IntervalFor(TimeSpan.FromSeconds(1)));
        Assert.Equal(TimeSpan.FromMilliseconds(100), MySqlTimeoutEnforcer.IntervalFor(TimeSpan.FromMilliseconds(50))); // never faster
        Assert.Equal(TimeSpan.FromSeconds(5), MySqlTimeoutEnforcer.IntervalFor(TimeSpan.FromHours(1))); // never slower
        // wait_timeout takes whole seconds, rounded up: the server drops a session after 2 s for a 1.2 s fault.
        Assert.Equal(TimeSpan.FromSeconds(2), MySqlTimeoutEnforcer.ThresholdFor(mariaDb, TimeoutKind.Idle, TimeSpan.FromSeconds(1.2)));
        Assert.Equal(TimeSpan.FromSeconds(1), MySqlTimeoutEnforcer.ThresholdFor(mariaDb, TimeoutKind.IdleInTransaction, TimeSpan.FromSeconds(1)));
        Assert.Equal(TimeSpan.FromMilliseconds(300), MySqlTimeoutEnforcer.ThresholdFor(mariaDb, TimeoutKind.Statement, TimeSpan.FromMilliseconds(300)));
        Assert.Equal(TimeSpan.FromMilliseconds(200), MySqlTimeoutEnforcer.GraceFor(TimeSpan.FromMilliseconds(100)));
        Assert.Equal(TimeSpan.FromSeconds(1), MySqlTimeoutEnforcer.GraceFor(TimeSpan.FromSeconds(1)));
    }

    /// <summary>Opens a connection (a new session, with the fault's value), uses and closes it, opens again and proves
    /// it got the same server session back from MySqlConnector's pool, reset to <paramref name="reset"/>.</summary>
    private static async Task<(DbConnection Connection, long Session)> ReusedAndResetAsync<T>(TestDatabase db, string variable, T fresh, T reset)
    {
        for (var attempt = 1; ; attempt++)
        {
            long session;
            await using (var first = await db.OpenConnectionAsync())
            {
                session = await IdAsync(first);
                Assert.Equal(fresh, Read<T>(await first.ScalarAsync($"SELECT @@SESSION.{variable}")));
            }

            var again = await db.OpenConnectionAsync();
            if (await IdAsync(again) == session) // the pooled session, reused
            {
                Assert.Equal(reset, Read<T>(await again.ScalarAsync($"SELECT @@SESSION.{variable}"))); // and reset: the premise
                return (again, session);
            }

            // A test beside this one cleared every pool of the process (a crash or restart of its own server does)
            // between the close and the open: try again, a few times.
            await again.DisposeAsync();
            Assert.True(attempt < 3, "closing and opening again should reuse the same pooled server session");
        }
    }

    private static T Read<T>(object? value) => (T)Convert.ChangeType(value, typeof(T), System.Globalization.CultureInfo.InvariantCulture)!;

    private static async Task<long> IdAsync(DbConnection connection) => Convert.ToInt64(await connection.ScalarAsync("SELECT CONNECTION_ID()"));

    /// <summary>A statement that runs for <paramref name="seconds"/> unless interrupted, and then fails (a bare
    /// <c>SELECT SLEEP(n)</c> that KILL QUERY interrupts returns 1 instead of failing).</summary>
    private static string SlowStatement(int seconds) => $"SELECT SLEEP({seconds}) FROM items UNION ALL SELECT SLEEP({seconds})";

    private static async Task<long> GlobalAsync(DbServer server, string variable) =>
        Convert.ToInt64(await server.ScalarAsync($"SELECT @@GLOBAL.{variable}"));

    private static async Task<DatabasePool> PoolAsync(int max) =>
        await DatabasePool.CreateAsync(await DbServer.SharedAsync(MySql), new DatabasePoolOptions { CreateSchema = Schemas.Small(MySql), MaxDatabases = max });
}
