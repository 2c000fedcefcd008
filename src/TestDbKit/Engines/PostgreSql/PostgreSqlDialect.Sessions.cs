using System.Data.Common;
using Npgsql;

namespace TestDbKit.Engines;

// PostgreSqlDialect, part: session administration and fault SQL: listing, ending and probing sessions, timeouts, read-only, locks, the test user.
internal sealed partial class PostgreSqlDialect
{
    public override long SessionIdOf(DbConnection connection) => ((NpgsqlConnection)connection).ProcessID;

    // Waits (up to 5 s) until the session is gone, so the client's next command surely meets a dead session
    // (PostgreSQL 14+).
    public override string KillSessionSql(long sessionId) => $"SELECT pg_terminate_backend({sessionId}, 5000)";

    public override string CancelQuerySql(long sessionId) => $"SELECT pg_cancel_backend({sessionId})";

    // The server marks a session idle before it tells the client it is ready, so an idle session is never
    // listed busy for lack of time.
    public override string SessionsOfDatabaseSql(string database, SessionFilter filter = SessionFilter.All) =>
        $"SELECT pid FROM pg_stat_activity WHERE datname = '{Validated(database)}' AND backend_type = 'client backend' " +
        $"AND pid <> pg_backend_pid() AND application_name <> '{ControlApplicationName}'" + filter switch
        {
            SessionFilter.Idle => " AND state = 'idle'",
            SessionFilter.Busy => " AND state IS DISTINCT FROM 'idle'",
            _ => "",
        };

    // PostgreSQL 14+. A backend adds itself to the counts as it exits, before it leaves the process list, so a
    // pg_terminate_backend that waited (KillSessionSql) is counted by the time it returns. Each statement on an
    // autocommit connection takes a new stats snapshot (stats_fetch_consistency caches only within a transaction).
    public override string? EndedSessionsCountSql(string database) =>
        $"SELECT COALESCE(sum(sessions_killed + sessions_fatal + sessions_abandoned), 0) FROM pg_stat_database WHERE datname = '{Validated(database)}'";

    public override (string Set, string Undo)? DatabaseTimeoutSql(string database, TimeoutKind kind, TimeSpan value)
    {
        var db = QuoteIdentifier(database);
        var (setting, ms) = TimeoutSetting(kind, value);
        return ($"ALTER DATABASE {db} SET {setting} = {ms}", $"ALTER DATABASE {db} RESET {setting}");
    }

    // Nothing to enforce: a database's settings (ALTER DATABASE .. SET) are the defaults a session returns to after
    // DISCARD ALL / RESET ALL, which is what Npgsql's pool reset on reuse sends, so a reused pooled session keeps them.
    public override Task<IAsyncDisposable?> EnforceDatabaseTimeoutAsync(TimeoutEnforcement request, CancellationToken ct) =>
        Task.FromResult<IAsyncDisposable?>(null);

    // RESET returns to the value the session started with: the server's, for a session opened before the fault.
    public override Task<(string Set, string Undo)> ThisSessionTimeoutSqlAsync(DbConnection session, TimeoutKind kind, TimeSpan value, CancellationToken ct)
    {
        var (setting, ms) = TimeoutSetting(kind, value);
        return Task.FromResult(($"SET {setting} = {ms}", $"RESET {setting}"));
    }

    public override Task<(string Set, string Undo)> ThisSessionReadOnlySqlAsync(DbConnection session, CancellationToken ct) =>
        Task.FromResult(("SET default_transaction_read_only = on", "RESET default_transaction_read_only"));

    private static (string Setting, long Ms) TimeoutSetting(TimeoutKind kind, TimeSpan value) => (kind switch
    {
        TimeoutKind.Idle => "idle_session_timeout",
        TimeoutKind.IdleInTransaction => "idle_in_transaction_session_timeout",
        _ => "statement_timeout",
    }, Math.Max(1, (long)value.TotalMilliseconds));

    public override (string Set, string Undo, bool ServerWide) ReadOnlySql(string database)
    {
        var db = QuoteIdentifier(database);
        return ($"ALTER DATABASE {db} SET default_transaction_read_only = on", $"ALTER DATABASE {db} RESET default_transaction_read_only", false);
    }

    public override string LockTableSql(string table) => $"BEGIN; LOCK TABLE {QuoteIdentifier(table)} IN ACCESS EXCLUSIVE MODE";

    public override string ReleaseTableLockSql => "ROLLBACK";
}
