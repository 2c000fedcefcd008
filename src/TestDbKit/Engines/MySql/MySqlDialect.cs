using System.Data.Common;
using MySqlConnector;

namespace TestDbKit.Engines;

internal sealed class MySqlDialect : EngineDialect
{
    public static readonly MySqlDialect Instance = new();

    public override DbEngine Engine => DbEngine.MySql;

    /// <summary>MariaDB's live lock list (<see cref="MySqlModule.PrepareOwnedServerAsync"/>).</summary>
    public override Task PrepareOwnedServerAsync(string adminConnectionString, CancellationToken ct) =>
        MySqlModule.Instance.PrepareOwnedServerAsync(adminConnectionString, ct);

    public override string Name => "MySQL";

    public override string Key => "mysql";

    public override DbConnection CreateConnection(string connectionString) => new MySqlConnection(connectionString);

    public override string BuildConnectionString(string host, int port, string user, string password, string? database, string applicationName) =>
        new MySqlConnectionStringBuilder
        {
            Server = host,
            Port = checked((uint)port),
            UserID = user,
            Password = password,
            Database = database ?? "",
            ApplicationName = applicationName,
        }.ConnectionString;

    public override Endpoint Parse(string connectionString)
    {
        var b = Builder(connectionString);
        if (string.IsNullOrWhiteSpace(b.Server))
        {
            throw new ArgumentException("The MySQL connection string names no Server.", nameof(connectionString));
        }

        return new Endpoint(b.Server, (int)b.Port, string.IsNullOrEmpty(b.UserID) ? Environment.UserName : b.UserID,
            string.IsNullOrEmpty(b.Database) ? null : b.Database);
    }

    public override string? PasswordOf(string connectionString) => Builder(connectionString).Password;

    public override string ForProbe(string connectionString, TimeSpan connectTimeout)
    {
        var b = Builder(connectionString);
        b.Pooling = false;
        b.AllowUserVariables = true; // set-up scripts (the reset procedure) use @variables
        b.ConnectionTimeout = (uint)Math.Max(1, (int)Math.Ceiling(connectTimeout.TotalSeconds));
        return b.ConnectionString;
    }

    public override string WithEndpoint(string connectionString, string host, int port)
    {
        var b = Builder(connectionString);
        b.Server = host;
        b.Port = checked((uint)port);
        return b.ConnectionString;
    }

    public override string WithUser(string connectionString, string user, string password)
    {
        var b = Builder(connectionString);
        b.UserID = user;
        b.Password = password;
        return b.ConnectionString;
    }

    // '%' host: connections reach a Docker container from its bridge address, not 127.0.0.1. The grant's
    // database pattern escapes '_' so that it names the kit's prefix only.
    public override string CreateTestUserSql(string user, string password) =>
        $"CREATE USER IF NOT EXISTS '{Validated(user)}'@'%' IDENTIFIED BY {Literal(password)}; " +
        $"ALTER USER '{user}'@'%' IDENTIFIED BY {Literal(password)}; " +
        $"GRANT ALL PRIVILEGES ON `tdk\\_%`.* TO '{user}'@'%'";

    public override string WithDatabase(string connectionString, string? database)
    {
        var b = Builder(connectionString);
        b.Database = database ?? "";
        return b.ConnectionString;
    }

    public override ErrorKind Classify(Exception e) => e is MySqlException my
        ? ClassifyNumber(my.Number, my.SqlState) | (my.IsTransient ? ErrorKind.Transient : ErrorKind.None)
        : ErrorKind.None;

    /// <summary>MySQL and MariaDB error numbers (server 1xxx/3xxx/4xxx, client 2xxx).</summary>
    internal static ErrorKind ClassifyNumber(int number, string? sqlState) => number switch
    {
        // 2006 server has gone away, 2013 lost connection during query, 2014 commands out of sync,
        // 2045 / 2055 lost connection (system error), 4031 disconnected for inactivity (MySQL 8.0.24+),
        // 1053 server shutdown in progress, 1927 connection killed (MariaDB)
        2006 or 2013 or 2014 or 2045 or 2055 or 4031 or 1053 or 1927 => ErrorKind.ConnectionLost | ErrorKind.Transient,
        // 1213 deadlock: the transaction was rolled back. 1205 lock wait timeout: the statement (and with
        // innodb_rollback_on_timeout the transaction) was rolled back. Both are worth a retry.
        1213 or 1205 => ErrorKind.TransactionAborted | ErrorKind.Transient,
        // 1040 too many connections, 1203 user has too many connections, 1042 cannot connect to host,
        // 1290 / 1836 read-only server (a failover left the client on a replica)
        1040 or 1203 or 1042 or 1290 or 1836 => ErrorKind.Transient,
        // 1062 duplicate entry, 1586 duplicate with key name, 1451/1217 row is referenced, 1452/1216 no
        // referenced row, 1048 column cannot be null, 3819 check constraint (MySQL), 4025 constraint failed (MariaDB)
        1062 or 1586 or 1451 or 1217 or 1452 or 1216 or 1048 or 3819 or 4025 => ErrorKind.IntegrityViolation,
        _ when sqlState?.StartsWith("23", StringComparison.Ordinal) == true => ErrorKind.IntegrityViolation,
        _ when sqlState?.StartsWith("08", StringComparison.Ordinal) == true => ErrorKind.ConnectionLost | ErrorKind.Transient,
        _ => ErrorKind.None,
    };

    public override bool HasTemplateDatabases => false;

    public override string CreateDatabaseSql(string name, string? template) =>
        template is null ? $"CREATE DATABASE {QuoteIdentifier(name)}" : throw new NotSupportedException("MySQL has no template databases.");

    public override string DropDatabaseSql(string name) => $"DROP DATABASE IF EXISTS {QuoteIdentifier(name)}";

    public override string ListDatabasesSql(string prefix) =>
        $"SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE LEFT(SCHEMA_NAME, {prefix.Length}) = '{Validated(prefix)}'";

    public override ChangeTracker Tracker => MySqlTracker.Instance;

    public override Respawn.RespawnerOptions RespawnOptions(string database) => new()
    {
        DbAdapter = Respawn.DbAdapter.MySql,
        SchemasToInclude = [database],
        TablesToIgnore = ["testdbkit_dirty", "testdbkit_autoinc"],
        WithReseed = true,
    };

    public override string WithApplicationName(string connectionString, string applicationName)
    {
        var b = Builder(connectionString);
        b.ApplicationName = applicationName;
        return b.ConnectionString;
    }

    public override string ForAmbientTransaction(string connectionString)
    {
        var b = Builder(connectionString);
        b.IgnoreCommandTransaction = true;
        return b.ConnectionString;
    }

    protected override void ClearPool(DbConnection connection) => MySqlConnection.ClearPool((MySqlConnection)connection);

    /// <summary>A protocol ping: MySqlConnector refuses a command outside the connection's open transaction
    /// (InvalidOperationException), which says nothing about the session; a ping works inside one. The driver
    /// answers false itself for a broken stream or a reader left open. A ping has no command timeout, so it gets
    /// the one SELECT 1 had: a server that does not answer in time (frozen, or cut off) counts as gone.</summary>
    public override async Task<bool> IsAliveAsync(DbConnection connection, CancellationToken ct)
    {
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(ct);
        patience.CancelAfter(ProbeTimeout);
        try
        {
            return await ((MySqlConnection)connection).PingAsync(patience.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return false;
        }
        catch (Exception e) when (DbErrors.IsConnectionLostUncounted(e))
        {
            return false;
        }
        catch (DbException)
        {
            return connection.State == System.Data.ConnectionState.Open; // the server answered, with an error
        }
    }

    /// <summary>How long a liveness ping may take: the drivers' default command timeout.</summary>
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(30);

    public override string ForControl(string connectionString)
    {
        var b = Builder(connectionString);
        b.ConnectionReset = false;
        return b.ConnectionString;
    }

    public override long SessionIdOf(DbConnection connection) => ((MySqlConnection)connection).ServerThread;

    public override string ControlConnectionString(string adminConnectionString, string database) =>
        ForControl(WithApplicationName(WithDatabase(adminConnectionString, null), ControlApplicationName));

    public override string KillSessionSql(long sessionId) => $"KILL {sessionId}";

    public override string CancelQuerySql(long sessionId) => $"KILL QUERY {sessionId}";

    // The kit's control sessions connect to no database, so a filter on the database leaves them out.
    // Idle: 'Sleep' and no InnoDB transaction. The server shows a session as 'Sleep' a moment after it
    // answered, so one that answered microseconds ago can still be listed busy.
    public override string SessionsOfDatabaseSql(string database, SessionFilter filter = SessionFilter.All) =>
        SessionsSql(database, filter, InTransactionSql);

    private static string SessionsSql(string database, SessionFilter filter, string inTransaction) =>
        $"SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{Validated(database)}' AND ID <> CONNECTION_ID() AND COMMAND <> 'Killed'" + filter switch
        {
            SessionFilter.Idle => $" AND COMMAND = 'Sleep' AND ID NOT IN ({inTransaction})",
            SessionFilter.Busy => $" AND (COMMAND <> 'Sleep' OR ID IN ({inTransaction}))",
            _ => "",
        };

    private const string InTransactionSql = "SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX";

    // With metadata_lock_info (the kit's MariaDB servers): also the sessions holding a table, read live.
    // INNODB_TRX alone is a copy refreshed only after 0.1 s without readers, which parallel tests can starve.
    private const string InTransactionLiveSql = "SELECT THREAD_ID FROM information_schema.METADATA_LOCK_INFO UNION " + InTransactionSql;

    protected override async Task<string> SessionsOfDatabaseSqlAsync(DbConnection admin, string database, SessionFilter filter, CancellationToken ct) =>
        SessionsSql(database, filter,
            filter != SessionFilter.All && (await MySqlModule.Instance.FlavourOfAsync(admin, ct).ConfigureAwait(false)).ListsLocksLive
                ? InTransactionLiveSql
                : InTransactionSql);

    // INNODB_TRX is served from a cache that InnoDB refreshes when it is older than 0.1 s.
    public override TimeSpan TransactionListStaleness => TimeSpan.FromMilliseconds(110);

    // read_only binds every user without SUPER / READ ONLY ADMIN: the kit's test user on a server of the
    // test's own, never the administrator (so the kit's resets still run).
    public override (string Set, string Undo, bool ServerWide) ReadOnlySql(string database) =>
        ("SET GLOBAL read_only = ON", "SET GLOBAL read_only = OFF", true);

    public override async Task<(string Set, string Undo)?> GlobalTimeoutSqlAsync(
        DbConnection admin, TimeoutKind kind, TimeSpan value, CancellationToken ct)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var flavour = await MySqlModule.Instance.FlavourOfAsync(admin, ct).ConfigureAwait(false);
        string[] names;
        string newValue;
        switch (kind)
        {
            case TimeoutKind.Idle:
                // MySqlConnector is not an interactive client, so wait_timeout applies; set both anyway.
                names = ["wait_timeout", "interactive_timeout"];
                newValue = Math.Max(1, (long)Math.Ceiling(value.TotalSeconds)).ToString(inv);
                break;
            case TimeoutKind.Statement when flavour.Kind == ServerKind.MariaDb:
                names = ["max_statement_time"]; // seconds, any statement
                newValue = value.TotalSeconds.ToString("0.###", inv);
                break;
            case TimeoutKind.Statement:
                names = ["max_execution_time"]; // milliseconds, SELECT only
                newValue = Math.Max(1, (long)value.TotalMilliseconds).ToString(inv);
                break;
            default:
                return null; // neither MySQL nor MariaDB has an idle-in-transaction timeout
        }

        var old = new List<string>();
        foreach (var name in names)
        {
            old.Add(Convert.ToString(await admin.ScalarAsync($"SELECT @@GLOBAL.{name}", ct).ConfigureAwait(false), inv)!);
        }

        // One statement each way: both variables change together or not at all.
        return ("SET " + string.Join(", ", names.Select(n => $"GLOBAL {n} = {newValue}")),
            "SET " + string.Join(", ", names.Select((n, i) => $"GLOBAL {n} = {old[i]}")));
    }

    public override bool IsMissingDatabase(DbException e) => e is MySqlException { Number: 1049 }; // ER_BAD_DB_ERROR

    public override bool IsTooManyConnections(Exception e) => e is MySqlException { Number: 1040 or 1203 };

    public override ClientPoolSettings PoolSettingsOf(string connectionString)
    {
        var b = Builder(connectionString);
        return new ClientPoolSettings(b.Pooling, TimeSpan.FromSeconds(b.ConnectionIdleTimeout), "ConnectionIdleTimeout",
            TimeSpan.FromSeconds(b.ConnectionLifeTime), TimeSpan.FromSeconds(b.Keepalive), "Keepalive", b.ConnectionReset, "ConnectionReset=true");
    }

    public override async Task<(TimeSpan Idle, TimeSpan IdleInTransaction)> ServerTimeoutsAsync(DbConnection connection, CancellationToken ct)
    {
        // The session's value is what the server applies to this client (MySqlConnector is not "interactive").
        var idle = Convert.ToInt64(await connection.ScalarAsync("SELECT @@SESSION.wait_timeout", ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        return (TimeSpan.FromSeconds(idle), TimeSpan.Zero);
    }

    public override string LockTableSql(string table) => $"LOCK TABLES {QuoteIdentifier(table)} WRITE";

    public override string ReleaseTableLockSql => "UNLOCK TABLES";

    public override void ClearAllPools() => MySqlConnection.ClearAllPools();

    public override string QuoteIdentifier(string name) => "`" + Validated(name) + "`";

    /// <summary>SQL run at every start of a local server (its init file): gives root on 127.0.0.1 the
    /// generated password. Works on MariaDB and on MySQL 8.</summary>
    public static string AdminBootstrapSql(string password)
    {
        var literal = Literal(password);
        return $"""
            CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY {literal};
            ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY {literal};
            GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
            """;
    }

    /// <summary>A MySQL string literal of <paramref name="text"/>.</summary>
    internal static string Literal(string text) =>
        "'" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "''", StringComparison.Ordinal) + "'";

    private MySqlConnectionStringBuilder Builder(string connectionString)
    {
        try
        {
            return new MySqlConnectionStringBuilder(connectionString);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException or KeyNotFoundException or OverflowException)
        {
            throw Malformed(e);
        }
    }
}
