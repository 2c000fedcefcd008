using System.Data.Common;
using MySqlConnector;

namespace TestDbKit.Engines;

// MySqlDialect, part: session administration and fault SQL: listing, ending and probing sessions, timeouts, read-only, locks, the test user.
internal sealed partial class MySqlDialect
{
    // '%' host: connections reach a Docker container from its bridge address, not 127.0.0.1. The grant's
    // database pattern escapes '_' so that it names the kit's prefix only.
    public override string CreateTestUserSql(string user, string password) =>
        $"CREATE USER IF NOT EXISTS '{Validated(user)}'@'%' IDENTIFIED BY {Literal(password)}; " +
        $"ALTER USER '{user}'@'%' IDENTIFIED BY {Literal(password)}; " +
        $"GRANT ALL PRIVILEGES ON `tdk\\_%`.* TO '{user}'@'%'; " +
        MySqlSessionSettings.GrantSql(user);

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

    public override long SessionIdOf(DbConnection connection) => ((MySqlConnection)connection).ServerThread;

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

    // Rows of the kit's settings table, applied by init_connect at the test user's next login
    // (MySqlSessionSettings); the administrator is never bound, so the kit's resets still run.
    public override (string Set, string Undo, bool ServerWide) ReadOnlySql(string database)
    {
        var (set, undo) = MySqlSessionSettings.Sql(database, MySqlSessionSettings.ReadOnlyColumn, 1);
        return (set, undo, false);
    }

    // Milliseconds in the table; the procedure turns them into each server's units (MySqlSessionSettings).
    public override (string Set, string Undo)? DatabaseTimeoutSql(string database, TimeoutKind kind, TimeSpan value) =>
        MySqlSessionSettings.Sql(database, MySqlSessionSettings.ColumnOf(kind), Milliseconds(value));

    public override Task<(string Set, string Undo)> ThisSessionTimeoutSqlAsync(DbConnection session, TimeoutKind kind, TimeSpan value, CancellationToken ct) =>
        MySqlSessionSettings.ThisSessionSqlAsync(session, MySqlSessionSettings.ColumnOf(kind), Milliseconds(value), ct);

    public override Task<(string Set, string Undo)> ThisSessionReadOnlySqlAsync(DbConnection session, CancellationToken ct) =>
        MySqlSessionSettings.ThisSessionSqlAsync(session, MySqlSessionSettings.ReadOnlyColumn, 1, ct);

    // COM_RESET_CONNECTION (MySqlConnector's default on reuse) takes a per-database timeout away from a pooled session
    // and init_connect does not run again: a watcher of the test database's sessions ends those that outstay it.
    public override async Task<IAsyncDisposable?> EnforceDatabaseTimeoutAsync(TimeoutEnforcement request, CancellationToken ct) =>
        await MySqlTimeoutEnforcer.StartAsync(request, ct).ConfigureAwait(false);

    private static long Milliseconds(TimeSpan value) => Math.Max(1, (long)Math.Ceiling(value.TotalMilliseconds));

    /// <summary>init_connect does not run for administrators: only the kit's test user gets the settings.</summary>
    public override bool DatabaseSettingsSkipAdministrators => true;

    public override Task<string?> WhyNoDatabaseSettingsAsync(DbConnection admin, CancellationToken ct) =>
        MySqlSessionSettings.WhyNotAsync(admin, ct);

    public override string? ForgetDatabaseSettingsSql(string database) => MySqlSessionSettings.ForgetSql(database);

    public override string? ForgetStaleDatabaseSettingsSql => MySqlSessionSettings.ForgetStaleSql;

    public override bool DatabaseSettingsSurviveSessionReset => false;

    // read_only binds every user without SUPER / READ ONLY ADMIN: the kit's test user, never the administrator (so
    // the kit's resets still run). Writes fail with 1290, as on a replica.
    public override (string Set, string Undo)? ServerReadOnlySql => ("SET GLOBAL read_only = ON", "SET GLOBAL read_only = OFF");

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
            case TimeoutKind.Statement when flavour.StatementTimeoutCoversAll:
                names = ["max_statement_time"]; // seconds, any statement
                newValue = value.TotalSeconds.ToString("0.###", inv);
                break;
            case TimeoutKind.Statement:
                names = ["max_execution_time"]; // milliseconds, SELECT only
                newValue = Math.Max(1, (long)value.TotalMilliseconds).ToString(inv);
                break;
            case TimeoutKind.IdleInTransaction when flavour.Kind == ServerKind.MariaDb:
                names = ["idle_transaction_timeout"]; // seconds
                newValue = Math.Max(1, (long)Math.Ceiling(value.TotalSeconds)).ToString(inv);
                break;
            default:
                return null; // MySQL 8 has no idle-in-transaction timeout
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

    public override string LockTableSql(string table) => $"LOCK TABLES {QuoteIdentifier(table)} WRITE";

    public override string ReleaseTableLockSql => "UNLOCK TABLES";
}
