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
    /// (fails after 10 s). InnoDB serves its transaction list from a copy it refreshes only after 0.1 s
    /// without readers, so MySQL is polled every 150 ms.</summary>
    public static Task WaitUntilInTransactionAsync(DbServer server, DbEngine engine, long session) =>
        PollAsync(server, engine == DbEngine.PostgreSql
            ? $"SELECT COUNT(*) FROM pg_stat_activity WHERE pid = {session} AND state LIKE 'idle in transaction%' AND backend_xid IS NOT NULL"
            : $"SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = {session}",
            until: 1, TimeSpan.FromSeconds(10), $"the server does not show session {session} holding a transaction",
            every: TimeSpan.FromMilliseconds(engine == DbEngine.PostgreSql ? 20 : 150));

    /// <summary>The ids of the live sessions on <paramref name="database"/>.</summary>
    public static async Task<List<long>> OfDatabaseAsync(DbServer server, DbEngine engine, string database)
    {
        await using var admin = await server.OpenAdminConnectionAsync();
        return await admin.IdsAsync(engine == DbEngine.PostgreSql
            ? $"SELECT pid FROM pg_stat_activity WHERE datname = '{database}'"
            : $"SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{database}' AND COMMAND <> 'Killed'");
    }

    private static async Task PollAsync(DbServer server, string countSql, long until, TimeSpan within, string failure, TimeSpan? every = null)
    {
        await using var admin = await server.OpenAdminConnectionAsync();
        await Expect.EventuallyAsync(async () => Convert.ToInt64(await admin.ScalarAsync(countSql)) == until, within, failure,
            every ?? TimeSpan.FromMilliseconds(20));
    }
}
