using System.Data.Common;
using System.Globalization;

namespace TestDbKit.Engines;

/// <summary>
/// Per-database session settings on MySQL and MariaDB, which have none of their own (PostgreSQL's
/// <c>ALTER DATABASE .. SET</c>). A server the kit owns gets, at preparation, a control schema <c>testdbkit</c>
/// (outside the kit's <c>tdk_</c> prefix, so the test user has no rights on it) holding a table of settings keyed
/// by database and a DEFINER procedure that applies the row of the database it is given to the calling session
/// (<c>SET SESSION</c>), and the server's GLOBAL <c>init_connect</c> calls that procedure with <c>DATABASE()</c>
/// (inside a routine <c>DATABASE()</c> is the routine's own schema, so the caller passes it). <c>init_connect</c>
/// runs at every login of a user without administrative rights (SUPER / CONNECTION ADMIN), which is why the kit's
/// test sessions log in as its test user; it does not run again when MySqlConnector resets a pooled session
/// (<c>ConnectionReset=true</c>, its default), which puts the session's variables back to the GLOBAL values.
/// A failing <c>init_connect</c> drops the connection, so the procedure is created before the hook is set,
/// swallows its own errors (a missing row, a missing table, a value the server refuses) and the test user may
/// execute it. Variables per server (decided once per server, see <see cref="ServerFlavour"/>):
/// MariaDB <c>wait_timeout</c> (s), <c>idle_transaction_timeout</c> (s), <c>max_statement_time</c> (s, any
/// statement), <c>tx_read_only</c>; MySQL 8 <c>wait_timeout</c>, <c>max_execution_time</c> (ms, SELECT only),
/// <c>transaction_read_only</c>, and no idle-in-transaction timeout: the nearest is <c>wait_timeout</c>, which
/// MySQL applies to a session idle inside a transaction too. MySQL 8 cannot be tested on the kit's own machines
/// (no package, no image): its branch follows MySQL's manual.
/// </summary>
internal static class MySqlSessionSettings
{
    /// <summary>The control schema; not a <c>tdk_</c> name, so the test user's grant does not reach it.</summary>
    public const string Schema = "testdbkit";

    public const string Table = Schema + ".session_settings";

    public const string ProcedureName = "apply_session_settings";

    public const string Procedure = Schema + "." + ProcedureName;

    /// <summary>The GLOBAL <c>init_connect</c> the kit sets.</summary>
    public const string Hook = "CALL " + Procedure + "(DATABASE())";

    private const string Columns = "idle_ms IS NULL AND idle_in_transaction_ms IS NULL AND statement_ms IS NULL AND read_only IS NULL";

    /// <summary>Statements that give new sessions of <paramref name="database"/> <paramref name="value"/> for a
    /// setting (a row of the table), and that take it away again (the row goes when no setting is left).</summary>
    public static (string Set, string Undo) Sql(string database, string column, long value)
    {
        var db = MySqlDialect.Literal(EngineDialect.Validated(database));
        var v = value.ToString(CultureInfo.InvariantCulture);
        return ($"INSERT INTO {Table} (database_name, {column}) VALUES ({db}, {v}) ON DUPLICATE KEY UPDATE {column} = {v}",
            $"UPDATE {Table} SET {column} = NULL WHERE database_name = {db}; " +
            $"DELETE FROM {Table} WHERE database_name = {db} AND {Columns}");
    }

    /// <summary>The column of the settings table for a timeout.</summary>
    public static string ColumnOf(TimeoutKind kind) => kind switch
    {
        TimeoutKind.Idle => "idle_ms",
        TimeoutKind.IdleInTransaction => "idle_in_transaction_ms",
        _ => "statement_ms",
    };

    public const string ReadOnlyColumn = "read_only";

    /// <summary>Removes the settings of <paramref name="database"/> (it was dropped).</summary>
    public static string ForgetSql(string database) =>
        $"DELETE FROM {Table} WHERE database_name = {MySqlDialect.Literal(EngineDialect.Validated(database))}";

    /// <summary>Removes the settings of databases that no longer exist.</summary>
    public const string ForgetStaleSql =
        $"DELETE FROM {Table} WHERE database_name NOT IN (SELECT SCHEMA_NAME FROM information_schema.SCHEMATA)";

    /// <summary>Null when the server <paramref name="admin"/> is on applies per-database settings to the kit's
    /// test sessions, else why not and what to do.</summary>
    public static async Task<string?> WhyNotAsync(DbConnection admin, CancellationToken ct)
    {
        var rows = await admin.ReadColumnAsync(
            $"SELECT @@GLOBAL.init_connect, (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{Schema}' " +
            $"AND ROUTINE_NAME = '{ProcedureName}'), (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{Schema}' " +
            "AND TABLE_NAME = 'session_settings')",
            r => (Hook: r.IsDBNull(0) ? "" : r.GetString(0),
                Procedure: Convert.ToInt64(r.GetValue(1), CultureInfo.InvariantCulture) > 0,
                Table: Convert.ToInt64(r.GetValue(2), CultureInfo.InvariantCulture) > 0),
            ct).ConfigureAwait(false);
        var (hook, procedure, table) = rows[0];
        if (procedure && table && string.Equals(hook.Trim(), Hook, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var missing = !procedure || !table
            ? $"the kit's control schema ({Table} and {Procedure}) is not installed"
            : hook.Length == 0 ? "its init_connect is empty" : "its init_connect is set to something else";
        return $"MySQL and MariaDB have no per-database session settings, and this server lacks the kit's hook that gives them: {missing}. " +
            "The kit installs it on the servers it starts (Local or Docker: DbServer.StartAsync, the run's shared server, " +
            "[DedicatedServer], testdbkit serve); use one of those, or on a server of your own set the timeout for the whole " +
            "server (SET GLOBAL) yourself where nothing else runs.";
    }
}
