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

    /// <summary>
    /// Installs the control schema, the table and the procedure (for this server's flavour), removes rows of
    /// databases that are gone, and only
    /// then sets the GLOBAL hook: a hook calling a procedure that is missing would drop every non-administrative
    /// login. Idempotent: an existing procedure is kept (replacing it would leave a moment without one).
    /// </summary>
    public static async Task InstallAsync(DbConnection admin, ServerFlavour flavour, CancellationToken ct)
    {
        await admin.ExecuteAsync($"CREATE DATABASE IF NOT EXISTS {Schema}", ct).ConfigureAwait(false);
        await admin.ExecuteAsync(
            $"CREATE TABLE IF NOT EXISTS {Table} (database_name VARCHAR(64) NOT NULL PRIMARY KEY, idle_ms BIGINT NULL, " +
            "idle_in_transaction_ms BIGINT NULL, statement_ms BIGINT NULL, read_only TINYINT NULL) ENGINE=InnoDB", ct).ConfigureAwait(false);
        var exists = Convert.ToInt64(await admin.ScalarAsync(
            $"SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{Schema}' AND ROUTINE_NAME = '{ProcedureName}'", ct)
            .ConfigureAwait(false), CultureInfo.InvariantCulture) > 0;
        if (!exists)
        {
            await admin.ExecuteAsync(ProcedureSql(flavour), ct).ConfigureAwait(false);
        }

        foreach (var sql in EveryoneMayCallSql(flavour))
        {
            await admin.ExecuteAsync(sql, ct).ConfigureAwait(false);
        }

        await admin.ExecuteAsync(ForgetStaleSql, ct).ConfigureAwait(false);
        await admin.ExecuteAsync($"SET GLOBAL init_connect = {MySqlDialect.Literal(Hook)}", ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Lets every user run the procedure: init_connect runs for every user without administrative rights, with that
    /// user's rights, and one who may not call the procedure is refused at login ("init_connect command failed").
    /// Accounts that people create on a kit server themselves (an application's own user on a <c>testdbkit serve</c>
    /// server) must keep logging in. MariaDB 10.11+: a grant to PUBLIC. MySQL 8 (no PUBLIC; untested here, from its
    /// manual): a role holding the grant, made mandatory for every account and activated at login.
    /// </summary>
    internal static IReadOnlyList<string> EveryoneMayCallSql(ServerFlavour flavour) => flavour.Kind == ServerKind.MariaDb
        ? [$"GRANT EXECUTE ON PROCEDURE {Procedure} TO PUBLIC"]
        :
        [
            "CREATE ROLE IF NOT EXISTS 'tdk_settings'",
            $"GRANT EXECUTE ON PROCEDURE {Procedure} TO 'tdk_settings'",
            "SET GLOBAL mandatory_roles = 'tdk_settings'",
            "SET GLOBAL activate_all_roles_on_login = ON",
        ];

    /// <summary>Lets the test user run the procedure (and nothing else in the control schema): init_connect runs
    /// with the rights of the user logging in, and one who may not call it is dropped.</summary>
    public static string GrantSql(string user) => $"GRANT EXECUTE ON PROCEDURE {Procedure} TO '{EngineDialect.Validated(user)}'@'%'";

    /// <summary>
    /// Which session variable each column of the settings table sets on this server, and the value as an SQL
    /// expression of the column's value <c>x</c> (milliseconds, or 1 for read-only). MariaDB: seconds for
    /// wait_timeout and idle_transaction_timeout (rounded up, at least 1), fractional seconds for max_statement_time
    /// (any statement), tx_read_only (MariaDB 10.11 has no transaction_read_only). MySQL 8 (untested here, from its
    /// manual): no idle-in-transaction timeout, so that column shortens wait_timeout too (which MySQL applies to a
    /// session idle inside a transaction as well; the shorter of the two wins), max_execution_time in milliseconds
    /// (SELECT only), transaction_read_only.
    /// </summary>
    internal static IReadOnlyList<(string Column, string Variable, Func<string, string> Value)> Variables(ServerFlavour flavour) =>
        flavour.Kind == ServerKind.MariaDb
            ?
            [
                ("idle_ms", "wait_timeout", x => $"GREATEST(1, CEIL({x} / 1000))"),
                ("idle_in_transaction_ms", "idle_transaction_timeout", x => $"GREATEST(1, CEIL({x} / 1000))"),
                ("statement_ms", "max_statement_time", x => $"{x} / 1000"),
                (ReadOnlyColumn, "tx_read_only", x => x),
            ]
            :
            [
                ("idle_ms", "wait_timeout", x => $"GREATEST(1, CEIL({x} / 1000))"),
                ("idle_in_transaction_ms", "wait_timeout", x => $"LEAST(@@SESSION.wait_timeout, GREATEST(1, CEIL({x} / 1000)))"),
                ("statement_ms", "max_execution_time", x => x),
                (ReadOnlyColumn, "transaction_read_only", x => x),
            ];

    /// <summary>
    /// The procedure init_connect calls. One row read with aggregates (no row: NULLs, nothing set), then one
    /// <c>SET SESSION</c> per column set (<see cref="Variables"/>). Every error is swallowed by the handler, so a
    /// bad row or a dropped table never refuses a login: the session then keeps the server's defaults.
    /// </summary>
    internal static string ProcedureSql(ServerFlavour flavour)
    {
        var map = Variables(flavour);
        var locals = string.Join(", ", map.Select((_, i) => $"v{i}"));
        var apply = string.Concat(map.Select((m, i) =>
            $"\n            IF v{i} IS NOT NULL THEN SET SESSION {m.Variable} = {m.Value($"v{i}")}; END IF;"));
        return $"""
            CREATE PROCEDURE {Procedure}(IN db VARCHAR(64))
            SQL SECURITY DEFINER
            BEGIN
                DECLARE {locals} BIGINT DEFAULT NULL;
                DECLARE EXIT HANDLER FOR SQLEXCEPTION BEGIN END;
                IF db IS NOT NULL THEN
                    SELECT {string.Join(", ", map.Select(m => $"MAX({m.Column})"))} INTO {locals}
                        FROM {Table} WHERE database_name = db;{apply}
                END IF;
            END
            """;
    }

    /// <summary>Statements that give the session they run on the setting of <paramref name="column"/> at once
    /// (a session opened before the row was written), and that put the server's global value back.</summary>
    public static async Task<(string Set, string Undo)> ThisSessionSqlAsync(DbConnection session, string column, long value, CancellationToken ct)
    {
        var flavour = await MySqlModule.Instance.FlavourOfAsync(session, ct).ConfigureAwait(false);
        var (_, variable, expression) = Variables(flavour).First(m => m.Column == column);
        return ($"SET SESSION {variable} = {expression(value.ToString(CultureInfo.InvariantCulture))}",
            $"SET SESSION {variable} = @@GLOBAL.{variable}");
    }

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
