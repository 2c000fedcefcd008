using TestDbKit.Engines;

namespace TestDbKit.Tests.Databases;

/// <summary>
/// MariaDB on the kit's own servers: tracking by the server's per-table row counts (<c>userstat</c>), what it
/// installs, the cases where the counts alone would not tell, and busy sessions found through the live
/// list of metadata locks.
/// </summary>
public sealed class RowCounterTests
{
    private const DbEngine Engine = DbEngine.MySql;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Row_counters_need_no_trigger_and_triggers_remain_the_fallback(bool triggers)
    {
        await using var pool = await PoolAsync(triggers);
        Assert.Equal(triggers ? ChangeMarks.Triggers : ChangeMarks.RowCounters, pool.Marks);
        await using var db = await pool.LeaseAsync();
        await using var connection = await db.OpenConnectionAsync();
        var count = Convert.ToInt32(await connection.ScalarAsync(
            "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE 'testdbkit%'"));
        Assert.Equal(triggers ? 2 : 0, count);
    }

    [Fact]
    public async Task A_table_no_test_wrote_to_is_left_alone_by_the_reset()
    {
        var small = Schemas.Small(Engine);
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(Engine), new DatabasePoolOptions
        {
            CreateSchema = async c => { await small(c); await c.ExecuteAsync("INSERT INTO notes (tag) VALUES ('seed')"); },
            MaxDatabases = 1,
        });
        await using var db = await pool.LeaseAsync();
        await using var connection = await db.OpenConnectionAsync();
        await using var admin = await pool.Server.OpenAdminConnectionAsync();
        var changedSql = $"SELECT ROWS_CHANGED FROM information_schema.TABLE_STATISTICS WHERE TABLE_SCHEMA = '{db.Name}' AND TABLE_NAME = 'notes'";
        var before = Convert.ToInt64(await admin.ScalarAsync(changedSql));
        await connection.InsertItemAsync(Engine, "x");
        await db.ResetAsync();
        Assert.Equal(0, await connection.CountAsync("items"));
        // Not emptied and refilled: the seed row's table saw no change at all.
        Assert.Equal(before, Convert.ToInt64(await admin.ScalarAsync(changedSql)));
        Assert.Equal(1, await connection.CountAsync("notes"));
    }

    /// <summary>Aria, MyISAM and MEMORY empty a table at once and count none of its rows: the reset must not
    /// count them either, or the next test's writes would look like the reset's own.</summary>
    [Theory]
    [InlineData("Aria")]
    [InlineData("MyISAM")]
    [InlineData("MEMORY")]
    public async Task Tables_of_engines_that_empty_at_once_are_reset_test_after_test(string engine)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(Engine), new DatabasePoolOptions
        {
            CreateSchema = c => c.ExecuteAsync($"CREATE TABLE logs (msg VARCHAR(20) NOT NULL) ENGINE={engine}"),
            MaxDatabases = 1,
        });
        for (var test = 0; test < 4; test++)
        {
            await using var db = await pool.LeaseAsync();
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("logs"));
            await connection.ExecuteAsync($"INSERT INTO logs (msg) VALUES ('test {test}')");
        }
    }

    /// <summary>A statement still running when the reset begins is killed; its rows roll back, but its
    /// AUTO_INCREMENT moved, and its row count only shows once it has ended: the reset waits for it.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Ids_restart_after_a_statement_the_reset_had_to_kill(bool triggers)
    {
        await using var pool = await PoolAsync(triggers);
        await using var admin = await pool.Server.OpenAdminConnectionAsync();
        Task running;
        System.Data.Common.DbConnection busy;
        await using (var db = await pool.LeaseAsync())
        {
            busy = await db.OpenConnectionAsync();
            // Its first row is in once the second row's value is being computed. (Polled in PROCESSLIST, not
            // INNODB_TRX: reading that more often than every 0.1 s keeps InnoDB from refreshing it, for everyone.)
            running = busy.ExecuteAsync("INSERT INTO items (tag) VALUES ('first'), (IF(SLEEP(30) = 0, 'slow', 'slow'))");
            for (var polls = 0; ; polls++)
            {
                Assert.True(polls < 1000, "the slow INSERT never got to its second row");
                await Task.Delay(10);
                if (Convert.ToInt64(await admin.ScalarAsync($"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = '{db.Name}' AND STATE = 'User sleep'")) > 0)
                {
                    break;
                }
            }
        }

        await PoolSetup.SessionEndedAsync(() => running, "the statement the reset ended");
        await busy.DisposeAsync();
        await using var next = await pool.LeaseAsync();
        await using var connection = await next.OpenConnectionAsync();
        Assert.Equal(0, await connection.CountAsync("items"));
        Assert.Equal(1, await connection.InsertItemAsync(Engine, "first"));
    }

    /// <summary>On a server of its own: switching <c>userstat</c> off, and a restart that zeroes the counts,
    /// make the reset empty every table instead of missing one.</summary>
    [Fact]
    public async Task Counting_switched_off_or_lost_in_a_restart_still_resets_every_written_table()
    {
        await using var server = await DbServer.StartAsync(Engine);
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = Schemas.Small(Engine), MaxDatabases = 1 });
        Assert.Equal(ChangeMarks.RowCounters, pool.Marks);
        await using var admin = await server.OpenAdminConnectionAsync();

        async Task AssertCleanAsync(string when)
        {
            await using var db = await pool.LeaseAsync();
            await using var c = await db.OpenConnectionAsync();
            Assert.True(await c.CountAsync("items") + await c.CountAsync("notes") == 0, $"rows left {when}");
            Assert.Equal(1, await c.InsertItemAsync(Engine, "first"));
            await c.ExecuteAsync("INSERT INTO notes (tag) VALUES ('n')");
        }

        await AssertCleanAsync("at the start");
        await admin.ExecuteAsync("SET GLOBAL userstat = 0");
        await AssertCleanAsync("after a test that wrote while counting was off");
        await AssertCleanAsync("after a second such test");
        await admin.ExecuteAsync("SET GLOBAL userstat = 1");
        await using (var db = await pool.LeaseAsync())
        {
            await using var c = await db.OpenConnectionAsync();
            await c.InsertItemAsync(Engine, "before the restart");
            await db.Faults.RestartServerAsync();
        }

        await AssertCleanAsync("after a restart");
        await AssertCleanAsync("after a test on the restarted server");
        await using var restarted = await server.OpenAdminConnectionAsync();
        Assert.Equal("ON", await restarted.ScalarAsync("SELECT IF(@@GLOBAL.userstat, 'ON', 'OFF')")); // the kit starts it so
    }

    /// <summary>INNODB_TRX is a copy InnoDB refreshes only after 0.1 s without readers: a monitor (or other
    /// resets) reading it often keeps a new transaction out of it. The reset sees the transaction in the
    /// live lock list instead, and ends it before its DELETE meets the transaction's row lock. Had it missed
    /// the transaction, the DELETE would wait on that lock (a second, then the busy sessions are ended again):
    /// the server's own count of row-lock waits tells, so no stopwatch is needed. On a server of its own, so
    /// that count is this test's alone.</summary>
    [Fact]
    public async Task A_transaction_is_ended_even_while_someone_keeps_reading_the_transaction_list()
    {
        await using var server = await DbServer.StartAsync(Engine, new DbServerOptions { Provider = DbServerProvider.Local });
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = Schemas.Small(Engine), MaxDatabases = 1 });
        await using var admin = await server.OpenAdminConnectionAsync();
        Assert.Equal(1L, Convert.ToInt64(await admin.ScalarAsync(
            "SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'")));
        using var stop = new CancellationTokenSource();
        var reading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var monitor = TestSupport.KeepReadingTransactionListAsync(server, stop.Token, firstRead: reading, every: TimeSpan.FromMilliseconds(10));
        try
        {
            await reading.Task.WaitAsync(TimeSpan.FromSeconds(30));
            System.Data.Common.DbConnection leaked;
            System.Data.Common.DbTransaction pending;
            string name;
            long waitsBefore;
            await using (var db = await pool.LeaseAsync())
            {
                name = db.Name;
                var patience = System.Diagnostics.Stopwatch.StartNew();
                for (var attempt = 1; ; attempt++)
                {
                    // A new session each time: the stale copy may still show an earlier attempt's transaction.
                    leaked = await db.OpenConnectionAsync();
                    var id = await leaked.SessionIdAsync(Engine);
                    pending = await leaked.BeginTransactionAsync();
                    await leaked.ExecuteAsync("INSERT INTO notes (tag) VALUES ('uncommitted')", pending);
                    // The premise: the list the monitor keeps reading does not show this transaction. (Before the
                    // monitor's first read, or after a stall of it on a loaded machine, InnoDB refreshes the copy.)
                    if (Convert.ToInt64(await admin.ScalarAsync($"SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = {id}")) == 0)
                    {
                        break;
                    }

                    Assert.True(patience.Elapsed < TimeSpan.FromSeconds(30),
                        $"INNODB_TRX showed each of {attempt} new transactions within 30 s: the monitor never kept it stale");
                    await pending.RollbackAsync();
                    await pending.DisposeAsync();
                    await leaked.DisposeAsync();
                    await Task.Delay(50); // let the monitor catch up (polling)
                }

                waitsBefore = await RowLockWaitsAsync(admin);
            }

            Assert.Equal(waitsBefore, await RowLockWaitsAsync(admin)); // ended before the reset touched its row
            await PoolSetup.SessionEndedAsync(() => pending.CommitAsync(), "the commit of the leaked transaction");
            await leaked.DisposeAsync();
            await using var next = await pool.LeaseAsync();
            Assert.Equal(name, next.Name); // reset, not replaced after a failed reset
            await using var connection = await next.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("notes"));
        }
        finally
        {
            await stop.CancelAsync();
            await monitor;
        }
    }

    /// <summary>How many times InnoDB made a statement wait for a row lock, since the server started.</summary>
    private static async Task<long> RowLockWaitsAsync(System.Data.Common.DbConnection admin) =>
        Convert.ToInt64(await admin.ScalarAsync(
            "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'INNODB_ROW_LOCK_WAITS'"));

    /// <summary>A one-database pool of the small schema on the shared MariaDB server.</summary>
    private static async Task<DatabasePool> PoolAsync(bool triggers) => await DatabasePool.CreateAsync(await DbServer.SharedAsync(Engine),
        new DatabasePoolOptions { CreateSchema = Schemas.Small(Engine), MaxDatabases = 1, TrackWithTriggers = triggers });
}
