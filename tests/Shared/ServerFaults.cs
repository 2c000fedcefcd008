using System.Data.Common;

namespace TestDbKit.Tests.Common;

/// <summary>Server-wide faults from a base-class test, the same on xunit and NUnit.</summary>
public static class ServerFaults
{
    /// <summary>Crashes or restarts the test's own server: the test's connection is lost, committed rows
    /// survive, and a session on the shared server (where other tests run) is not touched.</summary>
    public static async Task CrashOrRestartAsync(bool restart, DbEngine engine, DbConnection connection, TestDatabase database)
    {
        Check(!database.Server.IsShared && database.Server.IsOwned, $"the test runs on {database.Server}, not on a server of its own");
        var shared = await DbServer.SharedAsync(engine);
        Check(shared.ToString() != database.Server.ToString(), "the dedicated server is the shared one");
        await using var neighbour = await shared.OpenAdminConnectionAsync();
        var neighbourId = await neighbour.SessionIdAsync(engine);
        await connection.ScalarAsync("INSERT INTO items (tag) VALUES ('committed')");

        if (restart)
        {
            await database.Faults.RestartServerAsync();
        }
        else
        {
            await database.Faults.CrashServerAsync();
        }

        await Expect.ConnectionLostAsync(() => connection.ScalarAsync("SELECT 1"), $"the test's connection after the {(restart ? "restart" : "crash")}");
        await using var fresh = await database.OpenConnectionAsync();
        var rows = Convert.ToInt64(await fresh.ScalarAsync("SELECT COUNT(*) FROM items"));
        Check(rows == 1, $"expected the committed row after the {(restart ? "restart" : "crash")} of {database.Server}, found {rows} rows");
        Check(await neighbour.SessionIdAsync(engine) == neighbourId, "the session on the shared server changed");
    }

    /// <summary>Makes the test's database read-only on a server of the test's own: a new connection's write fails as
    /// after a failover to a replica (PostgreSQL 25006 per database; MySQL 1290 from the global read_only, which the
    /// kit uses on a server of the test's own because MySqlConnector's session reset would undo a per-database
    /// setting), transient, the session still open; undone on dispose.</summary>
    public static async Task ReadOnlyAsync(DbEngine engine, TestDatabase database)
    {
        await using (await database.Faults.SetReadOnlyAsync())
        {
            await using var connection = await database.OpenConnectionAsync();
            var refused = await Expect.FailsAsync<DbException>(() => connection.ScalarAsync("INSERT INTO items (tag) VALUES ('refused')"), "a write to the read-only database");
            var code = refused switch
            {
                MySqlConnector.MySqlException my => my.Number.ToString(System.Globalization.CultureInfo.InvariantCulture),
                _ => refused.SqlState,
            };
            Check(code == (engine == DbEngine.PostgreSql ? "25006" : "1290"), $"the write should be refused as read-only, saw {refused.GetType().Name}: {refused.Message}");
            Check(DbErrors.IsTransient(refused) && !DbErrors.IsConnectionLost(refused), "read-only should be transient and keep the session");
            Check(connection.State == System.Data.ConnectionState.Open, $"the connection is {connection.State}");
        }

        await using var after = await database.OpenConnectionAsync();
        await after.ScalarAsync("INSERT INTO items (tag) VALUES ('writable again')");
    }

    /// <summary>A server-wide fault on the shared server is refused, and the message names [DedicatedServer].</summary>
    public static async Task RefusedOnTheSharedServerAsync(TestDatabase database)
    {
        Check(database.Server.IsShared, "expected the shared server");
        try
        {
            await database.Faults.RestartServerAsync();
        }
        catch (InvalidOperationException e) when (e.Message.Contains("[DedicatedServer]", StringComparison.Ordinal))
        {
            return;
        }

        throw new ExpectationException("a restart of the shared server was not refused with advice naming [DedicatedServer]");
    }

    private static void Check(bool condition, string failure) => Expect.That(condition, failure);
}
