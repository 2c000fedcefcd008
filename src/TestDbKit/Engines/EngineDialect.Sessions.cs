using System.Data.Common;

namespace TestDbKit.Engines;

// EngineDialect, part: session administration and fault SQL: listing, ending and probing sessions, timeouts, read-only, locks, the test user.
internal abstract partial class EngineDialect
{
    /// <summary>Creates (or updates) a user with every right on the kit's databases (<c>tdk_…</c>) and none
    /// on the server, for test sessions that the per-database settings (timeouts, read-only; on MySQL applied by
    /// <c>init_connect</c>, which skips administrators) must bind; null where the engine needs none.</summary>
    public virtual string? CreateTestUserSql(string user, string password) => null;

    /// <summary>The server's id of the session behind an open connection, read without a round trip.</summary>
    public abstract long SessionIdOf(DbConnection connection);

    /// <summary>Ends the server session with this id.</summary>
    public abstract string KillSessionSql(long sessionId);

    /// <summary>Cancels the statement the session is running; the session lives on.</summary>
    public abstract string CancelQuerySql(long sessionId);

    /// <summary>How stale the server's list of open transactions may be (MySQL refreshes INNODB_TRX at most
    /// every 0.1 s): wait this long before reading it to see every transaction begun before the wait.</summary>
    public virtual TimeSpan TransactionListStaleness => TimeSpan.Zero;

    /// <summary>Ids of the client sessions on <paramref name="database"/> that <paramref name="filter"/> picks,
    /// except the kit's control sessions and the session asking.</summary>
    public abstract string SessionsOfDatabaseSql(string database, SessionFilter filter = SessionFilter.All);

    /// <summary><see cref="SessionsOfDatabaseSql"/> as this server can best answer it (what it offers may differ
    /// between servers of one engine).</summary>
    protected virtual Task<string> SessionsOfDatabaseSqlAsync(DbConnection admin, string database, SessionFilter filter, CancellationToken ct) =>
        Task.FromResult(SessionsOfDatabaseSql(database, filter));

    /// <summary>A query answering one number that grows whenever a session of <paramref name="database"/> ends other
    /// than by its client's goodbye (killed, ended by a fatal error such as a server timeout, or abandoned), counted by
    /// the server itself, so kills the kit did not make count too; null where the server keeps no such count (the pool
    /// then compares the database's session ids between returns instead).</summary>
    public virtual string? EndedSessionsCountSql(string database) => null;

    /// <summary>Ends the sessions of <paramref name="database"/> that <paramref name="filter"/> picks, through an
    /// administrator's connection, never the kit's control sessions; says how many it ended.</summary>
    public async Task<int> EndSessionsAsync(DbConnection admin, string database, SessionFilter filter, CancellationToken ct)
    {
        var ids = await admin.ReadColumnAsync(await SessionsOfDatabaseSqlAsync(admin, database, filter, ct).ConfigureAwait(false),
            r => Convert.ToInt64(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture), ct).ConfigureAwait(false);
        var ended = 0;
        foreach (var id in ids)
        {
            try
            {
                await admin.ExecuteAsync(KillSessionSql(id), ct).ConfigureAwait(false);
                ended++;
            }
            catch (DbException)
            {
                // It ended on its own between the list and the kill.
            }
        }

        return ended;
    }

    /// <summary>Statements that make new sessions of <paramref name="database"/> use <paramref name="value"/> for a
    /// timeout setting, and that undo it. Never null for <see cref="TimeoutKind.Idle"/>,
    /// <see cref="TimeoutKind.IdleInTransaction"/> and <see cref="TimeoutKind.Statement"/> (MySQL 8, which has no
    /// idle-in-transaction timeout, applies its nearest, <c>wait_timeout</c>). On MySQL they take effect only on a
    /// server with the kit's hook (<see cref="WhyNoDatabaseSettingsAsync"/>) and for sessions of a user without
    /// administrative rights.</summary>
    public abstract (string Set, string Undo)? DatabaseTimeoutSql(string database, TimeoutKind kind, TimeSpan value);

    /// <summary>Statements that give the session they run on (an open test connection, opened before the
    /// per-database setting was made) the same timeout at once, and that undo it for that session.</summary>
    public abstract Task<(string Set, string Undo)> ThisSessionTimeoutSqlAsync(DbConnection session, TimeoutKind kind, TimeSpan value, CancellationToken ct);

    /// <summary>Statements that make the transactions the session they run on begins from now on read-only, and
    /// that undo it for that session.</summary>
    public abstract Task<(string Set, string Undo)> ThisSessionReadOnlySqlAsync(DbConnection session, CancellationToken ct);

    /// <summary>Null when per-database settings (<see cref="DatabaseTimeoutSql"/>, <see cref="ReadOnlySql"/>) take
    /// effect on the server <paramref name="admin"/> is connected to (PostgreSQL: always; MySQL: when the kit's
    /// control schema and <c>init_connect</c> hook are installed), else a sentence saying why not and what to do.</summary>
    /// <param name="admin">An open administrator's connection.</param>
    /// <param name="ct">Cancels the question.</param>
    public virtual Task<string?> WhyNoDatabaseSettingsAsync(DbConnection admin, CancellationToken ct) => Task.FromResult<string?>(null);

    /// <summary>Whether per-database settings pass over sessions of administrators (MySQL: <c>init_connect</c> does
    /// not run for them), so that only sessions of a user without administrative rights get them.</summary>
    public virtual bool DatabaseSettingsSkipAdministrators => false;

    /// <summary>Statements to run as the administrator after <paramref name="database"/> was dropped, removing
    /// what the kit kept about it outside it (MySQL: its row of per-database settings); null where nothing is kept.</summary>
    public virtual string? ForgetDatabaseSettingsSql(string database) => null;

    /// <summary>Removes what the kit kept about databases that no longer exist (MySQL: their settings rows); null
    /// where nothing is kept. Only for servers with the kit's hook (<see cref="WhyNoDatabaseSettingsAsync"/>).</summary>
    public virtual string? ForgetStaleDatabaseSettingsSql => null;

    /// <summary>Whether per-database settings outlive the session reset a driver sends when it reuses a pooled
    /// connection. PostgreSQL: yes (<c>DISCARD ALL</c> returns to the database's defaults). MySQL: no
    /// (<c>COM_RESET_CONNECTION</c>, which MySqlConnector sends by default, puts session variables back to the
    /// global values and does not run <c>init_connect</c> again), so on a server of the test's own the kit changes the
    /// global setting instead (<see cref="GlobalTimeoutSqlAsync"/>, <see cref="ServerReadOnlySql"/>), and on the shared
    /// one it enforces the timeouts from outside (<see cref="EnforceDatabaseTimeoutAsync"/>).</summary>
    public virtual bool DatabaseSettingsSurviveSessionReset => true;

    /// <summary>
    /// Starts what makes a per-database timeout (<see cref="DatabaseTimeoutSql"/>) hold for sessions that lost it to
    /// a driver's session reset, and returns what stops it; null when there is nothing to enforce. PostgreSQL: null
    /// (the database's settings are the defaults a session returns to after <c>DISCARD ALL</c> or Npgsql's pool reset).
    /// MySQL: a watcher on an administrator's connection of its own that ends the sessions of the test database and
    /// user which outstay the timeout (MySqlConnector's default <c>COM_RESET_CONNECTION</c> puts session variables back
    /// to the global values and <c>init_connect</c> does not run again). It never throws once started: what goes wrong
    /// while it runs is logged through <see cref="TimeoutEnforcement.Logger"/> and the test's output.
    /// </summary>
    /// <param name="request">The database, user, timeout and where to log.</param>
    /// <param name="ct">Cancels starting it.</param>
    public virtual Task<IAsyncDisposable?> EnforceDatabaseTimeoutAsync(TimeoutEnforcement request, CancellationToken ct) =>
        Task.FromResult<IAsyncDisposable?>(null);

    /// <summary>Statements that make the whole server refuse writes of users without administrative rights, and
    /// undo it; null where the engine needs no such switch (<see cref="DatabaseSettingsSurviveSessionReset"/>).</summary>
    public virtual (string Set, string Undo)? ServerReadOnlySql => null;

    /// <summary>
    /// Statements that set a timeout server-wide, on a server of the test's own where per-database settings do not
    /// outlive a driver's session reset (MySQL), and
    /// that put back the values the server has now. Null where the engine has no such timeout at all.
    /// </summary>
    public virtual Task<(string Set, string Undo)?> GlobalTimeoutSqlAsync(
        DbConnection admin, TimeoutKind kind, TimeSpan value, CancellationToken ct) =>
        Task.FromResult<(string Set, string Undo)?>(null);

    /// <summary>Statements that make sessions of <paramref name="database"/> opened from now on read-only and undo
    /// it, and whether they reach the whole server rather than this database's sessions (false on both engines:
    /// PostgreSQL per database; MySQL through the kit's per-database settings, see
    /// <see cref="WhyNoDatabaseSettingsAsync"/>).</summary>
    public abstract (string Set, string Undo, bool ServerWide) ReadOnlySql(string database);

    /// <summary>Takes a lock on <paramref name="table"/> that blocks every other session's reads and writes,
    /// held by the session that ran it until <see cref="ReleaseTableLockSql"/>.</summary>
    public abstract string LockTableSql(string table);

    public abstract string ReleaseTableLockSql { get; }

    /// <summary>Whether the session behind an open connection still answers, asked without reading the
    /// connection's transaction state. A statement that fails in a failed transaction (PostgreSQL 25P02) still
    /// shows the session alive; disposing the connection rolls it back.</summary>
    public virtual async Task<bool> IsAliveAsync(DbConnection connection, CancellationToken ct)
    {
        try
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT 1";
            await command.ExecuteScalarAsync(ct).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (DbErrors.IsConnectionLostUncounted(e) || e is InvalidOperationException)
        {
            return false;
        }
        catch (DbException)
        {
            return connection.State == System.Data.ConnectionState.Open;
        }
    }
}
