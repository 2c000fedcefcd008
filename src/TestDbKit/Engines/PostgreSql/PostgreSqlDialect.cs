using System.Data.Common;
using Npgsql;

namespace TestDbKit.Engines;

internal sealed class PostgreSqlDialect : EngineDialect
{
    public static readonly PostgreSqlDialect Instance = new();

    public override DbEngine Engine => DbEngine.PostgreSql;

    public override string Name => "PostgreSQL";

    public override string Key => "postgres";

    public override DbConnection CreateConnection(string connectionString) => new NpgsqlConnection(connectionString);

    public override string BuildConnectionString(string host, int port, string user, string password, string? database, string applicationName) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = host,
            Port = port,
            Username = user,
            Password = password,
            Database = database ?? "postgres",
            ApplicationName = applicationName,
            // The kit's servers listen on loopback without TLS. Asking for it anyway costs a round trip on
            // every connect, and against a frozen server Npgsql's cancel request waits out that question.
            SslMode = SslMode.Disable,
        }.ConnectionString;

    public override Endpoint Parse(string connectionString)
    {
        var b = Builder(connectionString);
        if (string.IsNullOrWhiteSpace(b.Host))
        {
            throw new ArgumentException("The PostgreSQL connection string names no Host.", nameof(connectionString));
        }

        return new Endpoint(b.Host, b.Port, b.Username ?? Environment.UserName, b.Database);
    }

    public override string? PasswordOf(string connectionString) => Builder(connectionString).Password;

    public override string ForProbe(string connectionString, TimeSpan connectTimeout)
    {
        var b = Builder(connectionString);
        b.Pooling = false;
        b.Timeout = Math.Max(1, (int)Math.Ceiling(connectTimeout.TotalSeconds));
        return b.ConnectionString;
    }

    public override string WithEndpoint(string connectionString, string host, int port)
    {
        var b = Builder(connectionString);
        b.Host = host;
        b.Port = port;
        return b.ConnectionString;
    }

    public override string WithUser(string connectionString, string user, string password)
    {
        var b = Builder(connectionString);
        b.Username = user;
        b.Password = password;
        return b.ConnectionString;
    }

    public override string WithDatabase(string connectionString, string? database)
    {
        var b = Builder(connectionString);
        b.Database = database ?? "postgres";
        return b.ConnectionString;
    }

    public override ErrorKind Classify(Exception e) => e switch
    {
        PostgresException pg => ClassifySqlState(pg.SqlState) | (pg.IsTransient ? ErrorKind.Transient : ErrorKind.None),
        // Npgsql's own errors (broken stream, timeouts) carry the cause as an inner exception, which the
        // caller classifies; the flag below keeps Npgsql's transient verdict.
        NpgsqlException n when n.IsTransient => ErrorKind.Transient,
        _ => ErrorKind.None,
    };

    /// <summary>SQLSTATE meanings (PostgreSQL appendix A).</summary>
    internal static ErrorKind ClassifySqlState(string state) => state switch
    {
        // 57P01 admin_shutdown (terminated), 57P02 crash_shutdown, 57P05 idle_session_timeout
        "57P01" or "57P02" or "57P05" => ErrorKind.ConnectionLost | ErrorKind.Transient,
        // 57P03 cannot_connect_now (starting up / shutting down), 57P04 database_dropped
        "57P03" => ErrorKind.ConnectionLost | ErrorKind.Transient,
        "57P04" => ErrorKind.ConnectionLost,
        // 25P03 idle_in_transaction_session_timeout: the server closed the session
        "25P03" => ErrorKind.ConnectionLost | ErrorKind.Transient,
        // 25P02 in_failed_sql_transaction: an earlier error poisoned the transaction
        "25P02" => ErrorKind.TransactionAborted,
        // 40001 serialization_failure, 40P01 deadlock_detected: rolled back, retry the transaction
        "40001" or "40P01" => ErrorKind.TransactionAborted | ErrorKind.Transient,
        // 53300 too_many_connections, 55P03 lock_not_available, 25006 read_only_sql_transaction (a
        // failover left the client on a read-only node: a new connection finds the new primary)
        "53300" or "55P03" or "25006" => ErrorKind.Transient,
        _ when state.StartsWith("08", StringComparison.Ordinal) => ErrorKind.ConnectionLost | ErrorKind.Transient,
        _ when state.StartsWith("23", StringComparison.Ordinal) => ErrorKind.IntegrityViolation,
        _ => ErrorKind.None,
    };

    public override bool HasTemplateDatabases => true;

    public override string CreateDatabaseSql(string name, string? template) =>
        $"CREATE DATABASE {QuoteIdentifier(name)}" + (template is null ? "" : $" TEMPLATE {QuoteIdentifier(template)}");

    public override string DropDatabaseSql(string name) => $"DROP DATABASE IF EXISTS {QuoteIdentifier(name)} WITH (FORCE)";

    public override string ListDatabasesSql(string prefix) =>
        $"SELECT datname FROM pg_database WHERE starts_with(datname, '{Validated(prefix)}')";

    public override ChangeTracker Tracker => PostgreSqlTracker.Instance;

    public override Respawn.RespawnerOptions RespawnOptions(string database) => new()
    {
        DbAdapter = Respawn.DbAdapter.Postgres,
        SchemasToExclude = ["testdbkit"],
        WithReseed = true,
    };

    public override string WithApplicationName(string connectionString, string applicationName)
    {
        var b = Builder(connectionString);
        b.ApplicationName = applicationName;
        return b.ConnectionString;
    }

    protected override void ClearPool(DbConnection connection) => NpgsqlConnection.ClearPool((NpgsqlConnection)connection);

    public override string ForControl(string connectionString)
    {
        var b = Builder(connectionString);
        b.NoResetOnClose = true;
        return b.ConnectionString;
    }

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

    public override (string Set, string Undo)? DatabaseTimeoutSql(string database, TimeoutKind kind, TimeSpan value)
    {
        var setting = kind switch
        {
            TimeoutKind.Idle => "idle_session_timeout",
            TimeoutKind.IdleInTransaction => "idle_in_transaction_session_timeout",
            _ => "statement_timeout",
        };
        var db = QuoteIdentifier(database);
        var ms = Math.Max(1, (long)value.TotalMilliseconds);
        return ($"ALTER DATABASE {db} SET {setting} = {ms}", $"ALTER DATABASE {db} RESET {setting}");
    }

    public override (string Set, string Undo, bool ServerWide) ReadOnlySql(string database)
    {
        var db = QuoteIdentifier(database);
        return ($"ALTER DATABASE {db} SET default_transaction_read_only = on", $"ALTER DATABASE {db} RESET default_transaction_read_only", false);
    }

    public override bool IsMissingDatabase(DbException e) => e is PostgresException { SqlState: "3D000" };

    public override bool IsTooManyConnections(Exception e) => e is PostgresException { SqlState: "53300" };

    public override ClientPoolSettings PoolSettingsOf(string connectionString)
    {
        var b = Builder(connectionString);
        return new ClientPoolSettings(b.Pooling, TimeSpan.FromSeconds(b.ConnectionIdleLifetime), "Connection Idle Lifetime",
            TimeSpan.FromSeconds(b.ConnectionLifetime), TimeSpan.FromSeconds(b.KeepAlive), "Keepalive", !b.NoResetOnClose, "No Reset On Close=false");
    }

    public override async Task<(TimeSpan Idle, TimeSpan IdleInTransaction)> ServerTimeoutsAsync(DbConnection connection, CancellationToken ct)
    {
        // Reported in milliseconds whatever unit they were set in.
        var idle = Convert.ToInt64(await connection.ScalarAsync("SELECT setting::bigint FROM pg_settings WHERE name = 'idle_session_timeout'", ct).ConfigureAwait(false) ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
        var inTx = Convert.ToInt64(await connection.ScalarAsync("SELECT setting::bigint FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout'", ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        return (TimeSpan.FromMilliseconds(idle), TimeSpan.FromMilliseconds(inTx));
    }

    public override string LockTableSql(string table) => $"BEGIN; LOCK TABLE {QuoteIdentifier(table)} IN ACCESS EXCLUSIVE MODE";

    public override string ReleaseTableLockSql => "ROLLBACK";

    public override void ClearAllPools() => NpgsqlConnection.ClearAllPools();

    public override string QuoteIdentifier(string name) => "\"" + Validated(name) + "\"";

    private NpgsqlConnectionStringBuilder Builder(string connectionString)
    {
        try
        {
            return new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException or KeyNotFoundException)
        {
            throw Malformed(e);
        }
    }
}
