using System.Data.Common;

namespace TestDbKit.Engines;

/// <summary>Where a connection string points, without its secret.</summary>
internal readonly record struct Endpoint(string Host, int Port, string User, string? Database)
{
    public override string ToString() => $"{Host}:{Port} as '{User}'" + (Database is null ? "" : $", database '{Database}'");
}

/// <summary>
/// Everything that differs between engines: drivers, connection strings, SQL and error codes.
/// No other part of the kit writes engine-specific SQL.
/// </summary>
internal abstract class EngineDialect
{
    public static EngineDialect For(DbEngine engine) => EngineRegistry.For(engine);

    public abstract DbEngine Engine { get; }

    /// <summary>Human name for messages.</summary>
    public abstract string Name { get; }

    /// <summary>Short lower-case name for folders, variables and CLI arguments.</summary>
    public abstract string Key { get; }

    public abstract DbConnection CreateConnection(string connectionString);

    /// <summary>Builds a connection string to a server on <paramref name="host"/>.</summary>
    public abstract string BuildConnectionString(string host, int port, string user, string password, string? database, string applicationName);

    /// <summary>Parses a connection string; throws <see cref="ArgumentException"/> (without the password) when it is malformed.</summary>
    public abstract Endpoint Parse(string connectionString);

    /// <summary>The password in a connection string, to keep it out of messages.</summary>
    public abstract string? PasswordOf(string connectionString);

    /// <summary>The password, or null when the connection string cannot even be parsed.</summary>
    public string? PasswordOfOrNull(string connectionString)
    {
        try
        {
            return PasswordOf(connectionString);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    /// <summary>The same connection string without pooling and with a short connect timeout, for probes and
    /// set-up scripts.</summary>
    public abstract string ForProbe(string connectionString, TimeSpan connectTimeout);

    /// <summary>The same connection string aimed at another host and port (a proxy).</summary>
    public abstract string WithEndpoint(string connectionString, string host, int port);

    /// <summary>The same connection string logging in as another user.</summary>
    public abstract string WithUser(string connectionString, string user, string password);

    /// <summary>Creates (or updates) a user with every right on the kit's databases (<c>tdk_…</c>) and none
    /// on the server, for test sessions that server-wide faults such as read-only must bind; null where the
    /// engine needs none.</summary>
    public virtual string? CreateTestUserSql(string user, string password) => null;

    /// <summary>The same connection string aimed at another database.</summary>
    public abstract string WithDatabase(string connectionString, string? database);

    /// <summary>What this driver's exception <paramref name="e"/> means; <see cref="ErrorKind.None"/> when
    /// it is not this driver's (the caller walks inner exceptions).</summary>
    public abstract ErrorKind Classify(Exception e);

    /// <summary>Whether databases can be copied from a template database (PostgreSQL) rather than built
    /// by replaying the schema (MySQL).</summary>
    public abstract bool HasTemplateDatabases { get; }

    public abstract string CreateDatabaseSql(string name, string? template);

    /// <summary>Drops a database even while sessions are connected to it.</summary>
    public abstract string DropDatabaseSql(string name);

    /// <summary>Lists databases whose names start with <paramref name="prefix"/> (letters, digits and '_').</summary>
    public abstract string ListDatabasesSql(string prefix);

    public abstract ChangeTracker Tracker { get; }

    /// <summary>Respawn's adapter and the scope it clears, for databases where tracking cannot be installed.</summary>
    public abstract Respawn.RespawnerOptions RespawnOptions(string database);

    /// <summary>The same connection string with another application name (how the kit tags sessions).</summary>
    public abstract string WithApplicationName(string connectionString, string applicationName);

    /// <summary>
    /// Where the kit's control session for <paramref name="database"/> connects: tagged
    /// <c>testdbkit-control</c> so faults never hit it. MySQL connects to no database at all (its reset
    /// procedure runs in its own database), so killing a database's sessions cannot reach it.
    /// </summary>
    public virtual string ControlConnectionString(string adminConnectionString, string database) =>
        ForControl(WithApplicationName(WithDatabase(adminConnectionString, database), ControlApplicationName));

    /// <summary>The application name of the kit's control sessions.</summary>
    public const string ControlApplicationName = "testdbkit-control";

    /// <summary>The server's id of the session behind an open connection, read without a round trip.</summary>
    public abstract long SessionIdOf(DbConnection connection);

    /// <summary>Ends the server session with this id.</summary>
    public abstract string KillSessionSql(long sessionId);

    /// <summary>Cancels the statement the session is running; the session lives on.</summary>
    public abstract string CancelQuerySql(long sessionId);

    /// <summary>What a server the kit started gets once, before any test uses it (kept across restarts). Opens
    /// a connection only where there is something to do.</summary>
    public virtual Task PrepareOwnedServerAsync(string adminConnectionString, CancellationToken ct) => Task.CompletedTask;

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
    /// timeout setting, and that undo it; null where the engine has no per-database scope for it.</summary>
    public virtual (string Set, string Undo)? DatabaseTimeoutSql(string database, TimeoutKind kind, TimeSpan value) => null;

    /// <summary>
    /// Statements that set a timeout server-wide, where the engine has no per-database scope for it (MySQL), and
    /// that put back the values the server has now. Null where the engine has no such timeout at all.
    /// </summary>
    public virtual Task<(string Set, string Undo)?> GlobalTimeoutSqlAsync(
        DbConnection admin, TimeoutKind kind, TimeSpan value, CancellationToken ct) =>
        Task.FromResult<(string Set, string Undo)?>(null);

    /// <summary>Statements that make sessions of <paramref name="database"/> read-only and undo it, and whether
    /// they reach the whole server (MySQL's <c>read_only</c>, which binds only users without administrative
    /// rights) rather than this database's new sessions (PostgreSQL).</summary>
    public abstract (string Set, string Undo, bool ServerWide) ReadOnlySql(string database);

    /// <summary>Whether an error says the database named in the statement does not exist (dropped meanwhile).</summary>
    public abstract bool IsMissingDatabase(DbException e);

    /// <summary>Whether an error says the server refuses new connections because all are in use.</summary>
    public abstract bool IsTooManyConnections(Exception e);

    /// <summary>The driver's pool settings in a connection string, under the driver's own names.</summary>
    public abstract ClientPoolSettings PoolSettingsOf(string connectionString);

    /// <summary>The server's idle timeouts as a session of <paramref name="connection"/> sees them (zero: none).</summary>
    public abstract Task<(TimeSpan Idle, TimeSpan IdleInTransaction)> ServerTimeoutsAsync(DbConnection connection, CancellationToken ct);

    /// <summary>Takes a lock on <paramref name="table"/> that blocks every other session's reads and writes,
    /// held by the session that ran it until <see cref="ReleaseTableLockSql"/>.</summary>
    public abstract string LockTableSql(string table);

    public abstract string ReleaseTableLockSql { get; }

    /// <summary>The kit's own control sessions leave no state behind, so the driver need not reset them
    /// when they come back from the pool (a reset costs a round trip, and PostgreSQL's DISCARD ALL also
    /// throws away the reset routine's cached plans).</summary>
    public abstract string ForControl(string connectionString);

    /// <summary>What a connection string needs so commands join the connection's open transaction
    /// without the caller setting <see cref="DbCommand.Transaction"/> (MySqlConnector checks it).</summary>
    public virtual string ForAmbientTransaction(string connectionString) => connectionString;

    /// <summary>Drops the idle pooled connections the driver keeps for one connection string.</summary>
    public void ClearPool(string connectionString)
    {
        using var connection = CreateConnection(connectionString);
        ClearPool(connection);
    }

    protected abstract void ClearPool(DbConnection connection);

    /// <summary>Drops every idle pooled connection the driver keeps for any connection string.</summary>
    public abstract void ClearAllPools();

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

    /// <summary>Quotes an identifier after checking it is one the kit would generate or accept.</summary>
    public abstract string QuoteIdentifier(string name);

    /// <summary>Whether a setting name can be passed to the server safely.</summary>
    public static bool IsValidSettingName(string name) =>
        name.Length is > 0 and <= 64 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-');

    /// <summary>Whether a setting value can be passed on a command line safely.</summary>
    public static bool IsValidSettingValue(string value) =>
        value.Length <= 1024 && !value.Any(c => char.IsControl(c));

    protected static string Validated(string name)
    {
        if (name.Length is 0 or > 63 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '$'))
        {
            throw new ArgumentException(
                $"'{name}' is not an identifier the kit accepts: use 1 to 63 ASCII letters, digits, '_', '-' or '$'.",
                nameof(name));
        }

        return name;
    }

    protected ArgumentException Malformed(Exception inner) => new(
        $"The {Name} connection string is malformed ({inner.GetType().Name}). " +
        "Check its keywords and separators (key=value pairs separated by ';'); the password is not shown.",
        inner);
}
