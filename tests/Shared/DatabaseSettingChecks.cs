using System.Data.Common;
using System.Diagnostics;

namespace TestDbKit.Tests.Common;

/// <summary>
/// Setting faults (timeouts, read-only) on the run's shared server, per database, from base-class tests, the same
/// on xunit and NUnit: issue 14's done-when test (one class shortens MySQL's wait_timeout and sees its idle
/// connection dropped while another class's idle connections live on, no [DedicatedServer]), and faults that
/// reach the connection the test is about to use (<c>Connection</c>).
/// </summary>
public static class DatabaseSettingChecks
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(1);

    /// <summary>How long the neighbour's connections stay idle: the fault's timeout with a generous margin.</summary>
    private static readonly TimeSpan NeighbourIdle = TimeSpan.FromSeconds(3);

    // The meeting point of the two classes when they run at once (one process; each run starts afresh).
    private static readonly TaskCompletionSource NeighbourStarted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private static readonly TaskCompletionSource<string> FaultInEffect = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private static readonly TaskCompletionSource NeighbourDone = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// The faulted class: shortens wait_timeout to 1 s for its database on the shared server; its open
    /// <c>Connection</c> and a new connection both read 1 s (the premise), and with a connection reused from the
    /// driver's default pool (see <see cref="ReusedFromThePoolAsync"/>) all three are dropped, and
    /// DbErrors classifies what the next command meets as a lost connection. When a neighbour class is running, the
    /// fault is held until it is done, so the neighbour can prove its idle connections outlived it.
    /// </summary>
    public static async Task IdleTimeoutDropsThisClassesIdleConnectionsAsync(DbEngine engine, Func<DbConnection> connection, TestDatabase database)
    {
        Expect.That(database.Server.IsShared, $"the test should run on the run's shared server, not {database.Server}");
        var fault = await database.Faults.SetIdleTimeoutAsync(Timeout);
        try
        {
            var kit = connection();
            await using var fresh = await database.OpenConnectionAsync();
            Expect.That(await IdleTimeoutOfAsync(engine, kit) == Timeout, "the test's open Connection should have the 1 s idle timeout");
            Expect.That(await IdleTimeoutOfAsync(engine, fresh) == Timeout, "a connection opened after the fault should have the 1 s idle timeout");
            await using var reused = await ReusedFromThePoolAsync(engine, database);
            var idleSessions = new[]
            {
                (Connection: fresh, Session: await fresh.SessionIdAsync(engine), What: "a new connection left idle"),
                (Connection: kit, Session: await kit.SessionIdAsync(engine), What: "the test's Connection left idle"),
                (Connection: reused, Session: await reused.SessionIdAsync(engine), What: "a connection reused (and reset) from the driver's pool left idle"),
            };
            FaultInEffect.TrySetResult(database.Name);

            foreach (var (idle, session, what) in idleSessions)
            {
                await ServerSessions.WaitUntilGoneAsync(database.Server, engine, session);
                await Expect.ConnectionLostAsync(() => idle.ScalarAsync("SELECT 1"), what);
            }

            if (NeighbourStarted.Task.IsCompleted)
            {
                await Task.WhenAny(NeighbourDone.Task, Task.Delay(TimeSpan.FromSeconds(30)));
            }
        }
        finally
        {
            await fault.DisposeAsync();
        }

        await using var after = await database.OpenConnectionAsync();
        Expect.That(await IdleTimeoutOfAsync(engine, after) != Timeout, "a connection opened after the undo still has the 1 s idle timeout");
    }

    /// <summary>
    /// The neighbour class: its <c>Connection</c> and a connection of its own stay idle well past 1 s while a
    /// database beside it on the same server has a 1 s idle timeout, and live on with the server's default. The
    /// faulted database is the faulted class's when it runs at the same time (it waits up to 5 s for it); run
    /// alone, it leases a database beside its own on the same server and faults that one, proving the same premise.
    /// </summary>
    public static async Task IdleConnectionsOfANeighbourLiveOnAsync(DbEngine engine, Func<DbConnection> connection, TestDatabase database)
    {
        Expect.That(database.Server.IsShared, $"the test should run on the run's shared server, not {database.Server}");
        var kit = connection();
        await using var own = await database.OpenConnectionAsync();
        var sessions = (Kit: await kit.SessionIdAsync(engine), Own: await own.SessionIdAsync(engine));
        var defaultTimeout = await IdleTimeoutOfAsync(engine, own);
        Expect.That(defaultTimeout != Timeout && await IdleTimeoutOfAsync(engine, kit) == defaultTimeout, "the neighbour's sessions should start with the server's idle timeout");
        var idleSince = Stopwatch.StartNew();
        NeighbourStarted.TrySetResult();
        try
        {
            var faulted = await Task.WhenAny(FaultInEffect.Task, Task.Delay(TimeSpan.FromSeconds(5))) == FaultInEffect.Task ? FaultInEffect.Task.Result : null;
            var outlived = faulted is not null && faulted != database.Name && await HasIdleTimeoutRowAsync(database.Server, engine, faulted)
                && await StayIdleBesideAsync(database.Server, engine, faulted, idleSince);
            if (!outlived)
            {
                // The faulted class ran before this one, or ended while this one idled (its database may even be this
                // one now): fault a database beside this one on the same server, and idle again beside it.
                await using var sidePool = await DatabasePool.CreateAsync(database.Server, new DatabasePoolOptions { MaxDatabases = 1 });
                await using var side = await sidePool.LeaseAsync();
                await using (await side.Faults.SetIdleTimeoutAsync(Timeout))
                {
                    var since = Stopwatch.StartNew();
                    await using var dropped = await side.OpenConnectionAsync();
                    Expect.That(await IdleTimeoutOfAsync(engine, dropped) == Timeout, "the side database's connection should have the 1 s idle timeout");
                    await ServerSessions.WaitUntilGoneAsync(side.Server, engine, await dropped.SessionIdAsync(engine));
                    Expect.That(await StayIdleBesideAsync(database.Server, engine, side.Name, since), $"the fault on {side.Name} ended early");
                }
            }

            Expect.That(Convert.ToInt32(await kit.ScalarAsync("SELECT 1")) == 1 && Convert.ToInt32(await own.ScalarAsync("SELECT 1")) == 1,
                "the neighbour's idle connections should live on");
            var alive = await ServerSessions.ListAsync(database.Server, database.Name);
            Expect.That(alive.Contains(sessions.Kit) && alive.Contains(sessions.Own), "the neighbour's sessions should be the same ones, still on the server");
        }
        finally
        {
            NeighbourDone.TrySetResult();
        }
    }

    /// <summary>Stays idle until <paramref name="since"/> shows <see cref="NeighbourIdle"/>, then says whether
    /// <paramref name="faulted"/> still has its short idle timeout (so it had it all along).</summary>
    private static async Task<bool> StayIdleBesideAsync(DbServer server, DbEngine engine, string faulted, Stopwatch since)
    {
        var rest = NeighbourIdle - since.Elapsed;
        if (rest > TimeSpan.Zero)
        {
            await Task.Delay(rest); // time itself is under test: idle three times as long as the fault allows
        }

        return await HasIdleTimeoutRowAsync(server, engine, faulted);
    }

    /// <summary>On a <c>[ResetConnection]</c> test, a kill right at the start reaches the connection the test then
    /// uses: the kit settles (opens or swaps) <c>Connection</c> before the fault, not lazily after it.</summary>
    public static async Task KillAtTheStartReachesTheConnectionAsync(DbEngine engine, Func<DbConnection> connection, TestDatabase database)
    {
        var killed = await database.Faults.KillAllSessionsAsync();
        Expect.That(killed >= 1, $"the kill should have ended the test's session, ended {killed}");
        await Expect.ConnectionLostAsync(() => connection().ScalarAsync("SELECT 1"), $"the {engine} test's Connection after a kill at the start");
    }

    /// <summary>A setting fault reaches the test's open <c>Connection</c> at once and leaves it on undo: read-only
    /// refuses its writes (25006 / 1792) and then allows them again; a 1 s idle timeout drops it.</summary>
    public static async Task SettingsReachTheOpenConnectionAsync(DbEngine engine, Func<DbConnection> connection, TestDatabase database)
    {
        var kit = connection();
        await kit.ScalarAsync("INSERT INTO items (tag) VALUES ('before')"); // the connection is open and in use before the fault
        var session = await kit.SessionIdAsync(engine);
        await using (await database.Faults.SetReadOnlyAsync())
        {
            var refused = await Expect.FailsAsync<DbException>(() => kit.ScalarAsync("INSERT INTO items (tag) VALUES ('refused')"), "a write on the test's Connection while read-only");
            var code = refused is MySqlConnector.MySqlException my ? my.Number.ToString(System.Globalization.CultureInfo.InvariantCulture) : refused.SqlState;
            Expect.That(code == (engine == DbEngine.PostgreSql ? "25006" : "1792"), $"the write should be refused as read-only, saw {refused.GetType().Name}: {refused.Message}");
        }

        await kit.ScalarAsync("INSERT INTO items (tag) VALUES ('after')"); // the undo reached the connection too

        await using (await database.Faults.SetIdleTimeoutAsync(Timeout))
        {
            Expect.That(await IdleTimeoutOfAsync(engine, kit) == Timeout, "the test's Connection should have the 1 s idle timeout");
            await ServerSessions.WaitUntilGoneAsync(database.Server, engine, session);
            await Expect.ConnectionLostAsync(() => kit.ScalarAsync("SELECT 1"), "the test's Connection left idle past the timeout");
        }
    }

    /// <summary>
    /// A connection closed and opened again from the driver's default pool: the same server session, which the driver
    /// reset on reuse (MySqlConnector's <c>ConnectionReset=true</c>: <c>COM_RESET_CONNECTION</c>, after which its
    /// wait_timeout is the server's global value again, and the kit must enforce the 1 s from outside; Npgsql's
    /// <c>DISCARD ALL</c>, after which the database's 1 s is still there). Proves both before it returns.
    /// </summary>
    private static async Task<DbConnection> ReusedFromThePoolAsync(DbEngine engine, TestDatabase database)
    {
        DbConnection again;
        for (var attempt = 1; ; attempt++)
        {
            long session;
            await using (var first = await database.OpenConnectionAsync())
            {
                session = await first.SessionIdAsync(engine);
                Expect.That(await IdleTimeoutOfAsync(engine, first) == Timeout, "a connection opened after the fault should have the 1 s idle timeout");
            }

            again = await database.OpenConnectionAsync();
            if (await again.SessionIdAsync(engine) == session)
            {
                break;
            }

            // A test running beside this one cleared every pool of the process (a crash or restart of its own server
            // does) between the close and the open, or MySqlConnector was still resetting the session in the background
            // when the open came: try again, a few times, each from an empty pool (a session the pool kept would come
            // back reset to the global timeout, and the next attempt's first connection must be a new one).
            await again.DisposeAsync();
            await using (var probe = database.Server.CreateConnection(database.ConnectionString))
            {
                ClearPoolOf(probe);
            }

            Expect.That(attempt < 3, "closing and opening again should reuse the same pooled server session");
        }

        var expected = engine == DbEngine.PostgreSql ? Timeout : await GlobalIdleTimeoutAsync(database.Server);
        Expect.That(await IdleTimeoutOfAsync(engine, again) == expected,
            $"the reused session's idle timeout should be {expected} after the driver's reset (the premise), not {await IdleTimeoutOfAsync(engine, again)}");
        return again;
    }

    /// <summary>Empties the driver's pool of <paramref name="connection"/>'s string (this test's database only).</summary>
    private static void ClearPoolOf(DbConnection connection)
    {
        if (connection is Npgsql.NpgsqlConnection npgsql)
        {
            Npgsql.NpgsqlConnection.ClearPool(npgsql);
        }
        else if (connection is MySqlConnector.MySqlConnection mysql)
        {
            MySqlConnector.MySqlConnection.ClearPool(mysql);
        }
    }

    private static async Task<TimeSpan> GlobalIdleTimeoutAsync(DbServer server)
    {
        await using var admin = await server.OpenAdminConnectionAsync();
        return TimeSpan.FromSeconds(Convert.ToDouble(await admin.ScalarAsync("SELECT @@GLOBAL.wait_timeout"), System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>The idle timeout the session behind <paramref name="connection"/> has.</summary>
    private static async Task<TimeSpan> IdleTimeoutOfAsync(DbEngine engine, DbConnection connection) => engine == DbEngine.PostgreSql
        ? TimeSpan.FromMilliseconds(Convert.ToDouble(await connection.ScalarAsync("SELECT setting FROM pg_settings WHERE name = 'idle_session_timeout'"), System.Globalization.CultureInfo.InvariantCulture))
        : TimeSpan.FromSeconds(Convert.ToDouble(await connection.ScalarAsync("SELECT @@SESSION.wait_timeout"), System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Whether <paramref name="database"/> has a short idle timeout set for its new sessions now.</summary>
    private static async Task<bool> HasIdleTimeoutRowAsync(DbServer server, DbEngine engine, string database)
    {
        await using var admin = await server.OpenAdminConnectionAsync();
        var sql = engine == DbEngine.PostgreSql
            ? $"SELECT COUNT(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = '{database}' AND array_to_string(s.setconfig, ',') LIKE '%idle_session_timeout%'"
            : $"SELECT COUNT(*) FROM testdbkit.session_settings WHERE database_name = '{database}' AND idle_ms IS NOT NULL";
        return Convert.ToInt64(await admin.ScalarAsync(sql)) > 0;
    }
}
