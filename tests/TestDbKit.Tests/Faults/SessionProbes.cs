using System.Diagnostics;

namespace TestDbKit.Tests.Faults;

/// <summary>What the server says about its sessions, read as the administrator, for the fault tests.</summary>
internal static class SessionProbes
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

    /// <summary>Waits until the server has ended the session (fails after 20 s).</summary>
    public static Task WaitUntilGoneAsync(DbServer server, DbEngine engine, long session) =>
        PollAsync(server, engine == DbEngine.PostgreSql
            ? $"SELECT COUNT(*) FROM pg_stat_activity WHERE pid = {session}"
            : $"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {session} AND COMMAND <> 'Killed'",
            until: 0, TimeSpan.FromSeconds(20), $"the server kept session {session}");

    /// <summary>The ids of the live sessions on <paramref name="database"/>.</summary>
    public static async Task<List<long>> OfDatabaseAsync(DbServer server, DbEngine engine, string database)
    {
        await using var admin = await server.OpenAdminConnectionAsync();
        await using var command = admin.CreateCommand();
        command.CommandText = engine == DbEngine.PostgreSql
            ? $"SELECT pid FROM pg_stat_activity WHERE datname = '{database}'"
            : $"SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{database}' AND COMMAND <> 'Killed'";
        await using var reader = await command.ExecuteReaderAsync();
        var ids = new List<long>();
        while (await reader.ReadAsync())
        {
            ids.Add(Convert.ToInt64(reader.GetValue(0)));
        }

        return ids;
    }

    private static async Task PollAsync(DbServer server, string countSql, long until, TimeSpan within, string failure)
    {
        await using var admin = await server.OpenAdminConnectionAsync();
        var clock = Stopwatch.StartNew();
        while (Convert.ToInt64(await admin.ScalarAsync(countSql)) != until)
        {
            Assert.True(clock.Elapsed < within, failure);
            await Task.Delay(20);
        }
    }
}
