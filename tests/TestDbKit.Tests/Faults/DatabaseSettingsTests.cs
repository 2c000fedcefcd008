using System.Data.Common;
using MySqlConnector;
using TestDbKit.Engines;
using TestDbKit.Tests.Databases;

namespace TestDbKit.Tests.Faults;

/// <summary>
/// Per-database session settings on MySQL/MariaDB, on the run's shared server: the kit's settings table and the
/// init_connect hook give the test user's new sessions of one database a timeout or read-only, and a neighbour
/// database's sessions keep the server's defaults. Each test proves the setting reached the faulted database's
/// session (its variable) before it asserts the consequence, and that the neighbour's did not.
/// </summary>
public sealed class DatabaseSettingsTests
{
    private const DbEngine MySql = DbEngine.MySql;

    [Fact]
    public async Task The_shared_MySQL_server_has_the_hook_and_test_sessions_log_in_as_the_test_user()
    {
        var server = await DbServer.SharedAsync(MySql);
        await using (var admin = await server.OpenAdminConnectionAsync())
        {
            Assert.Null(await server.Dialect.WhyNoDatabaseSettingsAsync(admin, CancellationToken.None));
            Assert.Equal(MySqlSessionSettings.Hook, Convert.ToString(await admin.ScalarAsync("SELECT @@GLOBAL.init_connect")));
        }

        await using var pool = await PoolAsync(max: 1);
        await using var db = await pool.LeaseAsync();
        await using var connection = await db.OpenConnectionAsync();
        Assert.StartsWith("tdk_app@", Convert.ToString(await connection.ScalarAsync("SELECT CURRENT_USER()")), StringComparison.Ordinal);

        // The test user reaches none of the control schema but the procedure init_connect calls.
        var e = await Assert.ThrowsAsync<MySqlException>(() => connection.ScalarAsync($"SELECT COUNT(*) FROM {MySqlSessionSettings.Table}"));
        Assert.Equal(1142, e.Number); // SELECT command denied
    }

    [Fact]
    public async Task The_test_user_on_the_shared_server_can_do_what_tests_do()
    {
        await using var pool = await PoolAsync(max: 1);
        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            Assert.StartsWith("tdk_app@", Convert.ToString(await connection.ScalarAsync("SELECT CURRENT_USER()")), StringComparison.Ordinal);
            await connection.ExecuteAsync("""
                CREATE TABLE audit (tag VARCHAR(50));
                CREATE TRIGGER items_audit AFTER INSERT ON items FOR EACH ROW INSERT INTO audit (tag) VALUES (NEW.tag);
                CREATE PROCEDURE add_item(IN t VARCHAR(50)) INSERT INTO items (tag) VALUES (t);
                CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN 2 * x;
                """);
            await connection.ExecuteAsync("CALL add_item('by procedure')");
            Assert.Equal(1L, await connection.CountAsync("audit")); // the trigger ran
            Assert.Equal(4L, Convert.ToInt64(await connection.ScalarAsync("SELECT twice(2)")));
            await connection.ExecuteAsync("LOCK TABLES items WRITE; INSERT INTO items (tag) VALUES ('locked'); UNLOCK TABLES");

            // EnsureCreated-style: a database of the kit's prefix of its own, created and dropped by the test user.
            var own = $"tdk_own_{Guid.NewGuid():N}"[..40];
            await connection.ExecuteAsync($"CREATE DATABASE {own}; CREATE TABLE {own}.t (id INT); DROP DATABASE {own}");
            await Assert.ThrowsAsync<MySqlException>(() => connection.ExecuteAsync("CREATE DATABASE not_the_kits"));
        }

        // The kit's reset (as the administrator) emptied what the test user wrote.
        await using var next = await pool.LeaseAsync();
        await using var clean = await next.OpenConnectionAsync();
        Assert.Equal(0L, await clean.CountAsync("items"));
    }

    [Fact]
    public Task Idle_in_transaction_timeout_closes_this_databases_session_idle_in_a_transaction_and_not_the_neighbours() =>
        BesideANeighbourAsync(f => f.SetIdleInTransactionTimeoutAsync(TimeSpan.FromSeconds(1)), async (db, faulted, beside) =>
        {
            Assert.Equal(1L, Convert.ToInt64(await faulted.ScalarAsync("SELECT @@SESSION.idle_transaction_timeout")));
            Assert.Equal(0L, Convert.ToInt64(await beside.ScalarAsync("SELECT @@SESSION.idle_transaction_timeout")));

            await using var transaction = await faulted.BeginTransactionAsync();
            await faulted.ExecuteAsync("INSERT INTO items (tag) VALUES ('idle in a transaction')", transaction);
            await using var besideTransaction = await beside.BeginTransactionAsync();
            await beside.ExecuteAsync("INSERT INTO items (tag) VALUES ('neighbour')", besideTransaction);

            await ServerSessions.WaitUntilGoneAsync(db.Server, MySql, SessionIdOf(faulted));
            await Expect.ConnectionLostAsync(() => faulted.ExecuteAsync("INSERT INTO items (tag) VALUES ('lost')", transaction), "the session idle in a transaction");

            // The neighbour was idle in its transaction at least as long, and lives on.
            await beside.ExecuteAsync("INSERT INTO items (tag) VALUES ('still here')", besideTransaction);
            Assert.Equal(2L, Convert.ToInt64(await beside.ScalarAsync("SELECT COUNT(*) FROM items", besideTransaction)));
            await besideTransaction.RollbackAsync();
        });

    [Fact]
    public Task Statement_timeout_cancels_this_databases_statements_and_not_the_neighbours() =>
        BesideANeighbourAsync(f => f.SetStatementTimeoutAsync(TimeSpan.FromMilliseconds(300)), async (_, faulted, beside) =>
        {
            Assert.Equal(0.3, Convert.ToDouble(await faulted.ScalarAsync("SELECT @@SESSION.max_statement_time")), 3);
            Assert.Equal(0.0, Convert.ToDouble(await beside.ScalarAsync("SELECT @@SESSION.max_statement_time")));

            var slow = beside.ScalarAsync("SELECT SLEEP(1)"); // longer than the fault's timeout, on the neighbour
            var e = await Assert.ThrowsAsync<MySqlException>(() => faulted.ScalarAsync("SELECT SLEEP(5)"));
            Assert.Equal(1969, e.Number); // max_statement_time exceeded
            Assert.Equal(System.Data.ConnectionState.Open, faulted.State);
            Assert.Equal(0L, Convert.ToInt64(await slow)); // SLEEP returns 0 when it was not interrupted
        });

    [Fact]
    public Task Read_only_refuses_this_databases_writes_with_1792_and_not_the_neighbours() =>
        BesideANeighbourAsync(f => f.SetReadOnlyAsync(), async (_, faulted, beside) =>
        {
            Assert.Equal(1L, Convert.ToInt64(await faulted.ScalarAsync("SELECT @@SESSION.tx_read_only")));
            Assert.Equal(0L, Convert.ToInt64(await beside.ScalarAsync("SELECT @@SESSION.tx_read_only")));

            var e = await Assert.ThrowsAsync<MySqlException>(() => faulted.ExecuteAsync("INSERT INTO items (tag) VALUES ('refused')"));
            Assert.Equal(1792, e.Number);
            Assert.Equal("25006", e.SqlState);
            Assert.True(DbErrors.IsTransient(e));
            Assert.False(DbErrors.IsConnectionLost(e));
            Assert.Equal(0, await faulted.CountAsync("items"));
            await beside.ExecuteAsync("INSERT INTO items (tag) VALUES ('written beside')");
        });

    [Fact]
    public async Task Settings_left_on_are_gone_when_the_lease_ends()
    {
        await using var pool = await PoolAsync(max: 1);
        string name;
        await using (var db = await pool.LeaseAsync())
        {
            name = db.Name;
            _ = await db.Faults.SetIdleTimeoutAsync(TimeSpan.FromSeconds(1));
            _ = await db.Faults.SetReadOnlyAsync();
            Assert.Equal(1, await RowsAsync(db.Server, name));
        }

        Assert.Equal(0, await RowsAsync(pool.Server, name));
        await using var next = await pool.LeaseAsync();
        Assert.Equal(name, next.Name); // the same database, its settings gone
        await using var connection = await next.OpenConnectionAsync();
        Assert.Equal(await GlobalAsync(next.Server, "wait_timeout"), Convert.ToInt64(await connection.ScalarAsync("SELECT @@SESSION.wait_timeout")));
        Assert.Equal(0L, Convert.ToInt64(await connection.ScalarAsync("SELECT @@SESSION.tx_read_only")));
    }

    [Fact]
    public async Task A_broken_settings_table_or_a_missing_hook_never_locks_out_a_login_and_the_faults_say_why()
    {
        // A server of the test's own: breaking the hook on the shared server would hurt every other test.
        await using var server = await DbServer.StartAsync(MySql, new DbServerOptions { Provider = DbServerProvider.Local });
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = Schemas.Small(MySql), MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();
        // The dialect's rows written as the administrator: on a server of the test's own FaultInjector changes the
        // global setting instead (MySqlConnector's session reset would drop a per-database one), and the hook is what
        // this test breaks.
        var (set, undo) = db.Server.Dialect.DatabaseTimeoutSql(db.Name, TimeoutKind.Idle, TimeSpan.FromSeconds(5))!.Value;
        await server.ScalarAsync(set);
        try
        {
            await using (var hooked = await db.OpenConnectionAsync())
            {
                Assert.Equal(5L, Convert.ToInt64(await hooked.ScalarAsync("SELECT @@SESSION.wait_timeout"))); // the premise: the hook works here
            }

            // The table the procedure reads is gone: the procedure's handler swallows the error, the login works.
            await server.ScalarAsync($"RENAME TABLE {MySqlSessionSettings.Table} TO {MySqlSessionSettings.Schema}.moved_away");
            db.Server.Dialect.ClearPool(db.ConnectionString);
            await using (var broken = await db.OpenConnectionAsync())
            {
                Assert.Equal(await GlobalAsync(server, "wait_timeout"), Convert.ToInt64(await broken.ScalarAsync("SELECT @@SESSION.wait_timeout")));
            }

            await server.ScalarAsync($"RENAME TABLE {MySqlSessionSettings.Schema}.moved_away TO {MySqlSessionSettings.Table}");

            // An account someone creates on a kit server by hand, with no grant on the kit's procedure, logs in too.
            var password = Guid.NewGuid().ToString("N");
            await server.ScalarAsync($"CREATE USER 'tdk_by_hand'@'%' IDENTIFIED BY '{password}'");
            await using var byHand = await server.OpenConnectionAsync(server.Dialect.ForProbe(
                server.Dialect.WithUser(server.AdminConnectionString, "tdk_by_hand", password), TimeSpan.FromSeconds(5)));
            Assert.Equal(1, Convert.ToInt32(await byHand.ScalarAsync("SELECT 1")));
        }
        finally
        {
            await server.ScalarAsync(undo);
        }

        // No hook at all (as on a server the kit did not prepare): logins work, and the setting faults refuse, saying why.
        await server.ScalarAsync("SET GLOBAL init_connect = ''");
        db.Server.Dialect.ClearPool(db.ConnectionString);
        await using (var plain = await db.OpenConnectionAsync())
        {
            Assert.Equal(1, Convert.ToInt32(await plain.ScalarAsync("SELECT 1")));
        }

        await using var admin = await server.OpenAdminConnectionAsync();
        var why = await server.Dialect.WhyNoDatabaseSettingsAsync(admin, CancellationToken.None);
        Assert.NotNull(why);
        Assert.Contains("init_connect is empty", why, StringComparison.Ordinal);
        Assert.Contains("DbServer.StartAsync", why, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_dropped_database_loses_its_settings_and_stale_rows_are_swept()
    {
        await using var pool = await PoolAsync(max: 1);
        string name;
        await using (var db = await pool.LeaseAsync())
        {
            name = db.Name;
            var (set, _) = db.Server.Dialect.DatabaseTimeoutSql(name, TimeoutKind.Statement, TimeSpan.FromSeconds(9))!.Value;
            await db.Server.ScalarAsync(set); // a row no fault will undo, as if the process died mid-test
            await db.Server.ScalarAsync($"INSERT INTO {MySqlSessionSettings.Table} (database_name, idle_ms) VALUES ('tdk_gone_{Guid.NewGuid():N}', 1000)");
            Assert.Equal(1, await RowsAsync(db.Server, name));
        }

        await pool.DisposeAsync(); // drops the pool's databases
        var server = await DbServer.SharedAsync(MySql);
        Assert.Equal(0, await RowsAsync(server, name));
        await TestDbKit.Databases.Janitor.SweepAsync(server, TimeSpan.FromDays(1), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, CancellationToken.None);
        Assert.Equal(0L, Convert.ToInt64(await server.ScalarAsync(
            $"SELECT COUNT(*) FROM {MySqlSessionSettings.Table} WHERE database_name NOT IN (SELECT SCHEMA_NAME FROM information_schema.SCHEMATA)")));
    }

    /// <summary>Leases a database and a neighbour on the shared server, injects <paramref name="fault"/> into the first,
    /// runs <paramref name="check"/> on a connection to each opened after the fault, undoes it and proves the
    /// settings gone (a new session has the server's values, read-only off included).</summary>
    private static async Task BesideANeighbourAsync(
        Func<FaultInjector, Task<IAsyncDisposable>> fault, Func<TestDatabase, DbConnection, DbConnection, Task> check)
    {
        await using var pool = await PoolAsync(max: 2);
        await using var neighbour = await pool.LeaseAsync();
        await using var db = await pool.LeaseAsync();
        await using (await fault(db.Faults))
        {
            await using var faulted = await db.OpenConnectionAsync();
            await using var beside = await neighbour.OpenConnectionAsync();
            await check(db, faulted, beside);
        }

        await AssertSettingsGoneAsync(db);
    }

    private static async Task AssertSettingsGoneAsync(TestDatabase db)
    {
        Assert.Equal(0, await RowsAsync(db.Server, db.Name));
        await using var after = await db.OpenConnectionAsync();
        foreach (var variable in new[] { "wait_timeout", "idle_transaction_timeout", "max_statement_time", "tx_read_only" })
        {
            Assert.Equal(Convert.ToString(await db.Server.ScalarAsync($"SELECT @@GLOBAL.{variable}")),
                Convert.ToString(await after.ScalarAsync($"SELECT @@SESSION.{variable}")));
        }
    }

    private static async Task<int> RowsAsync(DbServer server, string database) =>
        Convert.ToInt32(await server.ScalarAsync($"SELECT COUNT(*) FROM {MySqlSessionSettings.Table} WHERE database_name = '{database}'"));

    private static async Task<long> GlobalAsync(DbServer server, string variable) =>
        Convert.ToInt64(await server.ScalarAsync($"SELECT @@GLOBAL.{variable}"));

    /// <summary>The session id without a round trip (a command outside the open transaction is refused).</summary>
    private static long SessionIdOf(DbConnection connection) => ((MySqlConnection)connection).ServerThread;

    private static async Task<DatabasePool> PoolAsync(int max) =>
        await DatabasePool.CreateAsync(await DbServer.SharedAsync(MySql), new DatabasePoolOptions { CreateSchema = Schemas.Small(MySql), MaxDatabases = max });
}
