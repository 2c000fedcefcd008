using System.Data.Common;
using MySqlConnector;
using TestDbKit.Tests.Databases;

namespace TestDbKit.Tests.Faults;

/// <summary>Idle pooled sessions and busy ones are targeted separately; MySQL read-only binds the kit's
/// test sessions on a server of the test's own.</summary>
public sealed class VictimTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Idle_pooled_sessions_and_busy_sessions_are_killed_separately(DbEngine engine)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();

        // One session inside a transaction, one running a statement.
        await using var inTransaction = await db.OpenConnectionAsync();
        var transaction = await inTransaction.BeginTransactionAsync(); // its session gets killed: disposed below
        await inTransaction.ExecuteAsync("INSERT INTO items (tag) VALUES ('open')", transaction);
        await using var running = await db.OpenConnectionAsync();
        var runningId = await running.SessionIdAsync(engine);

        // Two idle sessions, as an application's pool keeps them between requests. Held open rather than given back to
        // the driver's pool: a clear of every pool by a test running alongside (a restart, a [ResetConnection]) would
        // close pooled ones before the kill, and the server cannot tell the two apart.
        await using var a = await db.OpenConnectionAsync();
        await using var b = await db.OpenConnectionAsync();
        var pooled = new List<long> { await a.SessionIdAsync(engine), await b.SessionIdAsync(engine) };

        using var stop = new CancellationTokenSource();
        var statement = RunAsync(running, engine == DbEngine.PostgreSql ? "SELECT pg_sleep(20)" : "SELECT SLEEP(20)", stop.Token);
        try
        {
            await ServerSessions.WaitUntilRunningAsync(db.Server, engine, runningId);
            await KillIdleThenBusyAsync(db, engine, pooled, runningId, statement, inTransaction, transaction);
        }
        finally
        {
            // A failed assertion must not leave the statement running under the disposal of its connection.
            await stop.CancelAsync();
            await statement.ContinueWith(_ => { }, TaskScheduler.Default);
            try
            {
                await transaction.DisposeAsync();
            }
            catch (Exception e) when (DbErrors.IsConnectionLost(e))
            {
                // MySqlConnector may still send ROLLBACK down the killed session; what matters was asserted above.
            }
        }
    }

    /// <summary>Something reading INNODB_TRX every 20 ms keeps InnoDB from refreshing it: a transaction begun
    /// meanwhile is missing from it. The kit's MariaDB servers show it in the live lock list, so "kill idle"
    /// spares it and "kill busy" finds it.</summary>
    [Fact]
    public async Task MariaDB_tells_a_session_in_a_transaction_from_an_idle_one_while_someone_keeps_reading_the_transaction_list()
    {
        const DbEngine engine = DbEngine.MySql;
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();
        using var stop = new CancellationTokenSource();
        var reads = new TransactionListReads();
        var monitor = TestSupport.KeepReadingTransactionListAsync(pool.Server, stop.Token, reads: reads);
        try
        {
            var (inTransaction, transaction) = await BeginUnlistedTransactionAsync(db, reads);
            await using var _ = inTransaction;
            Assert.Equal(0, await db.Faults.KillIdleSessionsAsync());
            await inTransaction.ExecuteAsync("INSERT INTO items (tag) VALUES ('still open')", transaction);
            Assert.Equal(1, await db.Faults.KillBusySessionsAsync());
            await Expect.ConnectionLostAsync(() => inTransaction.ExecuteAsync("SELECT 1", transaction), "the killed session in a transaction");
            try
            {
                await transaction.DisposeAsync();
            }
            catch (Exception x) when (DbErrors.IsConnectionLost(x))
            {
                // ROLLBACK down the killed session.
            }
        }
        finally
        {
            await stop.CancelAsync();
            await monitor;
        }
    }

    /// <summary>Begins a transaction that writes, on a new connection, and proves the premise of the test: the
    /// server's INNODB_TRX copy does not list it. Polled, not waited for: the monitor's first read refreshes
    /// the copy, so a transaction begun before that read may be listed; it is rolled back and begun again.</summary>
    private static async Task<(DbConnection Connection, DbTransaction Transaction)> BeginUnlistedTransactionAsync(TestDatabase db, TransactionListReads reads)
    {
        await using var admin = await db.Server.OpenAdminConnectionAsync();
        // A try fails when the copy is refreshed between the INSERT and the check, which a loaded machine (a slow
        // round trip) makes common: keep trying for a generous time rather than a count.
        var patience = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var connection = await db.OpenConnectionAsync();
            var session = await connection.SessionIdAsync(DbEngine.MySql);
            var transaction = await connection.BeginTransactionAsync();
            await connection.ExecuteAsync("INSERT INTO items (tag) VALUES ('open')", transaction);
            if (Convert.ToInt64(await admin.ScalarAsync($"SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = {session}")) == 0)
            {
                return (connection, transaction);
            }

            await transaction.RollbackAsync();
            await connection.DisposeAsync();
            Assert.True(patience.Elapsed < TimeSpan.FromSeconds(30), $"INNODB_TRX listed every transaction begun in 30 s while a monitor read it every 20 ms ({reads}): its copy never went stale");
            await Task.Delay(20);
        }
    }

    private static async Task KillIdleThenBusyAsync(
        TestDatabase db, DbEngine engine, List<long> pooled, long runningId, Task statement, DbConnection inTransaction, DbTransaction transaction)
    {
        Assert.Equal(2, await db.Faults.KillIdleSessionsAsync());

        var alive = await ServerSessions.OfDatabaseAsync(db.Server, engine, db.Name);
        Assert.Empty(pooled.Intersect(alive));
        Assert.Contains(runningId, alive);
        Assert.False(statement.IsCompleted);
        await inTransaction.ExecuteAsync("INSERT INTO items (tag) VALUES ('still open')", transaction);

        Assert.Equal(2, await db.Faults.KillBusySessionsAsync());

        await Expect.ConnectionLostAsync(() => statement, "the statement running on the killed busy session");
        await Expect.ConnectionLostAsync(() => inTransaction.ExecuteAsync("INSERT INTO items (tag) VALUES ('lost')", transaction), "the killed session in a transaction");
        Assert.Equal(0, await db.Faults.KillBusySessionsAsync());
    }

    [Fact]
    public async Task MySQL_read_only_on_the_shared_server_refuses_the_tests_writes_with_1792_and_the_kit_still_resets()
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(DbEngine.MySql), new DatabasePoolOptions { CreateSchema = Schemas.Small(DbEngine.MySql), MaxDatabases = 1 });
        await using (var db = await pool.LeaseAsync())
        {
            await using (var before = await db.OpenConnectionAsync())
            {
                Assert.StartsWith("tdk_app@", Convert.ToString(await before.ScalarAsync("SELECT CURRENT_USER()")), StringComparison.Ordinal);
                await before.InsertItemAsync(DbEngine.MySql, "before");
            }

            await using (await db.Faults.SetReadOnlyAsync())
            {
                // Sessions opened after the call are read-only; reads still work.
                await using var connection = await db.OpenConnectionAsync();
                var e = await Assert.ThrowsAsync<MySqlException>(() => connection.ExecuteAsync("INSERT INTO items (tag) VALUES ('refused')"));
                Assert.Equal(1792, e.Number);
                Assert.True(DbErrors.IsTransient(e));
                Assert.False(DbErrors.IsConnectionLost(e));
                Assert.Equal(System.Data.ConnectionState.Open, connection.State);
                Assert.Equal(1, await connection.CountAsync("items"));
            }

            await using var after = await db.OpenConnectionAsync();
            await after.InsertItemAsync(DbEngine.MySql, "after");
            Assert.Equal("0", Convert.ToString(await db.Server.ScalarAsync("SELECT @@GLOBAL.read_only")));
        }

        await using var next = await pool.LeaseAsync();
        await using var clean = await next.OpenConnectionAsync();
        Assert.Equal(0, await clean.CountAsync("items"));
    }

    private static async Task RunAsync(DbConnection connection, string sql, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(ct);
    }
}
