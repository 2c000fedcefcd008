using System.Data;
using System.Data.Common;
using System.Diagnostics;
using TestDbKit.Tests.Databases;

namespace TestDbKit.Tests.Faults;

public sealed class FaultInjectorTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task KillSession_ends_exactly_the_session_behind_the_connection(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine, max: 2);
        await using var db = await pool.LeaseAsync();
        await using var other = await pool.LeaseAsync();
        await using var victim = await db.OpenConnectionAsync();
        await using var bystander = await db.OpenConnectionAsync();
        await using var neighbour = await other.OpenConnectionAsync();

        await db.Faults.KillSessionAsync(victim);

        await Expect.ConnectionLostAsync(() => victim.ScalarAsync("SELECT 1"), "the killed session");
        Assert.Equal(1, Convert.ToInt32(await bystander.ScalarAsync("SELECT 1")));
        Assert.Equal(1, Convert.ToInt32(await neighbour.ScalarAsync("SELECT 1")));
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task KillAllSessions_ends_this_databases_sessions_only_and_the_kit_still_resets_it(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine, max: 2);
        await using var other = await pool.LeaseAsync();
        await using var neighbour = await other.OpenConnectionAsync();
        await using (var db = await pool.LeaseAsync())
        {
            await using var a = await db.OpenConnectionAsync();
            await using var b = await db.OpenConnectionAsync();
            await a.InsertItemAsync(engine, "committed");

            Assert.True(await db.Faults.KillAllSessionsAsync() >= 2);

            await Expect.ConnectionLostAsync(() => a.ScalarAsync("SELECT 1"), "the first session after the kill");
            await Expect.ConnectionLostAsync(() => b.ScalarAsync("SELECT 1"), "the second session after the kill");
            Assert.Equal(1, Convert.ToInt32(await neighbour.ScalarAsync("SELECT 1")));
        }

        await using var next = await pool.LeaseAsync();
        await using var connection = await next.OpenConnectionAsync();
        Assert.Equal(0, await connection.CountAsync("items"));
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql, "SELECT pg_sleep(30)")]
    [InlineData(DbEngine.MySql, "SELECT SLEEP(30)")]
    public async Task CancelQuery_stops_the_statement_and_keeps_the_session(DbEngine engine, string slow)
    {
        await using var pool = await PoolAsync(engine, max: 1);
        await using var db = await pool.LeaseAsync();
        await using var busy = await db.OpenConnectionAsync();
        var id = await busy.SessionIdAsync(engine);
        var clock = Stopwatch.StartNew();
        var running = busy.ScalarAsync(slow);
        await ServerSessions.WaitUntilRunningAsync(db.Server, engine, id);

        await db.Faults.CancelQueryAsync(busy);

        if (engine == DbEngine.PostgreSql)
        {
            var e = await Assert.ThrowsAnyAsync<DbException>(() => running);
            Assert.Equal("57014", e.SqlState); // query_canceled
        }
        else
        {
            // MySQL's SLEEP returns 1 when interrupted; MariaDB fails the statement with 1317.
            try
            {
                Assert.Equal(1L, Convert.ToInt64(await running));
            }
            catch (MySqlConnector.MySqlException e)
            {
                Assert.Equal(1317, e.Number);
            }
        }

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"the statement ran {clock.Elapsed}");
        Assert.Equal(id, await busy.SessionIdAsync(engine));
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task HoldLock_makes_writers_wait_until_it_is_released(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine, max: 1);
        await using var db = await pool.LeaseAsync();
        await using var writer = await db.OpenConnectionAsync();
        await writer.ExecuteAsync(engine == DbEngine.PostgreSql ? "SET lock_timeout = '300ms'" : "SET SESSION lock_wait_timeout = 1");

        var held = await db.Faults.HoldLockAsync("items");
        var e = await Assert.ThrowsAnyAsync<DbException>(() => writer.ExecuteAsync("INSERT INTO items (tag) VALUES ('blocked')"));
        Assert.True(DbErrors.IsTransient(e), $"{e.GetType().Name}: {e.Message}");
        await held.DisposeAsync();

        await writer.ExecuteAsync("INSERT INTO items (tag) VALUES ('free')");
        await Assert.ThrowsAsync<ArgumentException>(() => db.Faults.HoldLockAsync("items; DROP TABLE items"));
    }

    [Fact]
    public async Task A_short_idle_timeout_drops_idle_sessions_of_this_database_and_is_undone()
    {
        await using var pool = await PoolAsync(DbEngine.PostgreSql, max: 2);
        await using var other = await pool.LeaseAsync();
        await using (var db = await pool.LeaseAsync())
        {
            await using (await db.Faults.SetIdleTimeoutAsync(TimeSpan.FromMilliseconds(300)))
            {
                await using var idle = await db.OpenConnectionAsync();
                var id = await idle.SessionIdAsync(DbEngine.PostgreSql);
                await ServerSessions.WaitUntilGoneAsync(db.Server, DbEngine.PostgreSql, id);
                await Expect.ConnectionLostAsync(() => idle.ScalarAsync("SELECT 1"), "the session the idle timeout ended");

                await using var elsewhere = await other.OpenConnectionAsync();
                Assert.Equal("0", await elsewhere.ScalarAsync("SHOW idle_session_timeout"));
            }

            await using var after = await db.OpenConnectionAsync();
            Assert.Equal("0", await after.ScalarAsync("SHOW idle_session_timeout"));
        }
    }

    [Fact]
    public async Task Timeouts_left_on_are_undone_when_the_lease_ends()
    {
        await using var pool = await PoolAsync(DbEngine.PostgreSql, max: 1);
        await using (var db = await pool.LeaseAsync())
        {
            _ = await db.Faults.SetStatementTimeoutAsync(TimeSpan.FromMilliseconds(200));
            await using var c = await db.OpenConnectionAsync();
            var e = await Assert.ThrowsAnyAsync<DbException>(() => c.ScalarAsync("SELECT pg_sleep(5)"));
            Assert.Equal("57014", e.SqlState);
        }

        await using var next = await pool.LeaseAsync();
        await using var connection = await next.OpenConnectionAsync();
        Assert.Equal("0", await connection.ScalarAsync("SHOW statement_timeout"));
    }

    [Fact]
    public async Task MySQL_wait_timeout_on_the_shared_server_is_per_database_gives_the_gone_away_error_and_leaves_the_global_alone()
    {
        await using var pool = await PoolAsync(DbEngine.MySql, max: 1);
        await using var db = await pool.LeaseAsync();
        var before = Convert.ToInt64(await db.Server.ScalarAsync("SELECT @@GLOBAL.wait_timeout"));
        await using (await db.Faults.SetIdleTimeoutAsync(TimeSpan.FromSeconds(1)))
        {
            await using var idle = await db.OpenConnectionAsync();
            Assert.Equal(1L, Convert.ToInt64(await idle.ScalarAsync("SELECT @@SESSION.wait_timeout")));
            Assert.Equal(before, Convert.ToInt64(await db.Server.ScalarAsync("SELECT @@GLOBAL.wait_timeout")));
            var id = await idle.SessionIdAsync(DbEngine.MySql);
            await ServerSessions.WaitUntilGoneAsync(db.Server, DbEngine.MySql, id);

            await Expect.ConnectionLostAsync(() => idle.ScalarAsync("SELECT 1"), "the session the idle timeout ended");
        }

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => db.Faults.SetStatementTimeoutAsync(TimeSpan.Zero));
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Faults_refuse_connections_to_other_databases(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine, max: 2);
        await using var db = await pool.LeaseAsync();
        await using var other = await pool.LeaseAsync();
        await using var foreign = await other.OpenConnectionAsync();
        var e = await Assert.ThrowsAsync<ArgumentException>(() => db.Faults.KillSessionAsync(foreign));
        Assert.Contains("faults only touch the test's own sessions", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, Convert.ToInt32(await foreign.ScalarAsync("SELECT 1")));
    }

    private static async Task<DatabasePool> PoolAsync(DbEngine engine, int max) =>
        await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = max });
}
