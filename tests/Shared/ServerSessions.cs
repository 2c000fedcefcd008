namespace TestDbKit.Tests.Common;

/// <summary>What the server says about its sessions, read as the administrator: the proof that a fault
/// really happened (a kill ended a session, a leaked connection holds a transaction).</summary>
public static class ServerSessions
{
    /// <summary>Waits until the session is running a statement (fails after 10 s).</summary>
    public static Task WaitUntilRunningAsync(DbServer server, DbEngine engine, long session) =>
        PollAsync(server, engine == DbEngine.PostgreSql
            ? $"SELECT COUNT(*) FROM pg_stat_activity WHERE pid = {session} AND state = 'active'"
            : $"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {session} AND COMMAND = 'Query'",
            until: 1, TimeSpan.FromSeconds(10), $"session {session} never started its statement");

    /// <summary>Waits until the session is idle: no statement, no transaction (fails after 10 s). A driver may
    /// still be talking to the server for a moment after a connection went back to its pool.</summary>
    public static Task WaitUntilIdleAsync(DbServer server, DbEngine engine, long session) =>
        PollAsync(server, engine == DbEngine.PostgreSql
            ? $"SELECT COUNT(*) FROM pg_stat_activity WHERE pid = {session} AND state = 'idle'"
            : $"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {session} AND COMMAND = 'Sleep'",
            until: 1, TimeSpan.FromSeconds(10), $"session {session} never went idle");

    /// <summary>Waits until the server has ended the session (fails after 20 s): the proof that a kill worked.</summary>
    public static Task WaitUntilGoneAsync(DbServer server, DbEngine engine, long session) =>
        PollAsync(server, engine == DbEngine.PostgreSql
            ? $"SELECT COUNT(*) FROM pg_stat_activity WHERE pid = {session}"
            : $"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {session} AND COMMAND <> 'Killed'",
            until: 0, TimeSpan.FromSeconds(20), $"the server kept session {session}");

    /// <summary>Waits until the server shows the session holding an open transaction that has written
    /// (fails after 10 s). On MariaDB that is read live from the metadata_lock_info plugin, which the kit installs
    /// on its servers: InnoDB's own list (INNODB_TRX) is a copy it refreshes only after 0.1 s without readers, and
    /// tests polling it in parallel kept it stale for the whole 10 s.</summary>
    public static Task WaitUntilInTransactionAsync(DbServer server, DbEngine engine, long session) =>
        PollAsync(server, engine == DbEngine.PostgreSql
            ? $"SELECT COUNT(*) FROM pg_stat_activity WHERE pid = {session} AND state LIKE 'idle in transaction%' AND backend_xid IS NOT NULL"
            : $"SELECT COUNT(DISTINCT THREAD_ID) FROM information_schema.METADATA_LOCK_INFO WHERE THREAD_ID = {session}",
            until: 1, TimeSpan.FromSeconds(10), $"the server does not show session {session} holding a transaction");

    /// <summary>The ids of the live sessions on <paramref name="database"/>.</summary>
    public static async Task<List<long>> OfDatabaseAsync(DbServer server, DbEngine engine, string database)
    {
        await using var admin = await server.OpenAdminConnectionAsync();
        return await admin.IdsAsync(engine == DbEngine.PostgreSql
            ? $"SELECT pid FROM pg_stat_activity WHERE datname = '{database}'"
            : $"SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{database}' AND COMMAND <> 'Killed'");
    }

    /// <summary>The ids of the sessions on <paramref name="server"/>, on <paramref name="database"/> only when
    /// given, read on a connection that is not pooled, so that looking never adds a session to a pool the test
    /// observes.</summary>
    public static async Task<HashSet<long>> ListAsync(DbServer server, string? database = null)
    {
        await using var admin = await OpenUnpooledAsync(server, server.AdminConnectionString);
        var postgres = server.Engine == DbEngine.PostgreSql;
        var sql = (postgres ? "SELECT pid FROM pg_stat_activity" : "SELECT ID FROM information_schema.PROCESSLIST")
            + (database is null ? "" : postgres ? " WHERE datname = @db" : " WHERE DB = @db");
        return [.. await admin.IdsAsync(sql, ("@db", database))];
    }

    /// <summary>Waits until the server no longer lists session <paramref name="id"/> (a closed connection's
    /// server process ends a moment after the client hangs up), and fails after <paramref name="within"/>.</summary>
    public static Task WaitGoneAsync(DbServer server, long id, TimeSpan? within = null)
    {
        var patience = within ?? TimeSpan.FromSeconds(15);
        return Expect.EventuallyAsync(async () => !(await ListAsync(server)).Contains(id), patience,
            $"session {id} is still on {server} {patience.TotalSeconds:0} s after its connection should have been closed");
    }

    /// <summary>Waits until the server no longer has database <paramref name="name"/> (the kit drops databases it
    /// is done with in the background), and fails after <paramref name="within"/>.</summary>
    public static Task WaitDatabaseGoneAsync(DbServer server, string name, TimeSpan? within = null)
    {
        var patience = within ?? TimeSpan.FromSeconds(30);
        return Expect.EventuallyAsync(async () => !await DatabaseExistsAsync(server, name), patience,
            $"database {name} is still on {server} {patience.TotalSeconds:0} s after the test gave it back");
    }

    /// <summary>Whether the server has a database called <paramref name="name"/>.</summary>
    public static async Task<bool> DatabaseExistsAsync(DbServer server, string name)
    {
        await using var admin = await OpenUnpooledAsync(server, server.AdminConnectionString);
        var sql = server.Engine == DbEngine.PostgreSql
            ? "SELECT COUNT(*) FROM pg_database WHERE datname = @db"
            : "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = @db";
        return (await admin.IdsAsync(sql, ("@db", name))).Single() == 1;
    }

    /// <summary>The rows in <c>items</c> of <paramref name="database"/>, as a session of its own (outside any
    /// transaction of the test) sees them.</summary>
    public static async Task<long> ItemsAsync(DbServer server, string database)
    {
        // After a test, the kit resets its database in the background, and a reset ends every session still
        // running a statement there (it could commit rows after the reset): a count that meets the reset is
        // ended and asked again. Three tries: a reset ends sessions once, and each reset follows a test.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var connection = await OpenUnpooledAsync(server, server.ConnectionStringFor(database));
                return Convert.ToInt64(await connection.ScalarAsync("SELECT COUNT(*) FROM items"));
            }
            catch (System.Data.Common.DbException e) when (attempt < 3 && DbErrors.IsConnectionLost(e))
            {
            }
        }
    }

    private static async Task<System.Data.Common.DbConnection> OpenUnpooledAsync(DbServer server, string connectionString)
    {
        var builder = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        builder["Pooling"] = false;
        return await server.OpenConnectionAsync(builder.ConnectionString);
    }

    private static async Task PollAsync(DbServer server, string countSql, long until, TimeSpan within, string failure, TimeSpan? every = null)
    {
        await using var admin = await server.OpenAdminConnectionAsync();
        await Expect.EventuallyAsync(async () => Convert.ToInt64(await admin.ScalarAsync(countSql)) == until, within, failure,
            every ?? TimeSpan.FromMilliseconds(20));
    }
}
