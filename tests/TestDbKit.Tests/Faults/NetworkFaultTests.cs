using System.Data.Common;
using System.Diagnostics;
using TestDbKit.Tests.Databases;

namespace TestDbKit.Tests.Faults;

public sealed class NetworkFaultTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Latency_slows_every_round_trip_and_only_through_the_proxy(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine);
        await using var db = await pool.LeaseAsync();
        await using var proxied = await OpenAsync(db, db.Faults.Network.ConnectionString);
        await using (await db.Faults.Network.AddLatencyAsync(TimeSpan.FromMilliseconds(100), direction: NetworkDirection.ToClient))
        {
            var clock = Stopwatch.StartNew();
            Assert.Equal(1, Convert.ToInt32(await proxied.ScalarAsync("SELECT 1")));
            Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(95), $"took {clock.Elapsed}");
        }

        Assert.Equal(1, Convert.ToInt32(await proxied.ScalarAsync("SELECT 1")));
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_stall_makes_commands_time_out_and_ends_when_disposed(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine);
        await using var db = await pool.LeaseAsync();
        var cs = engine == DbEngine.PostgreSql ? db.Faults.Network.ConnectionString + ";Timeout=2" : db.Faults.Network.ConnectionString;
        await using var proxied = await OpenAsync(db, cs);
        await using (await db.Faults.Network.StallAsync())
        {
            await using var command = proxied.CreateCommand();
            command.CommandText = "SELECT 1";
            command.CommandTimeout = 1;
            var e = await Assert.ThrowsAnyAsync<DbException>(() => command.ExecuteScalarAsync());
            Assert.True(DbErrors.IsTransient(e), $"{e.GetType().Name}: {e.Message}");
        }

        await using var after = await OpenAsync(db, db.Faults.Network.ConnectionString);
        Assert.Equal(1, Convert.ToInt32(await after.ScalarAsync("SELECT 1")));
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Reset_connections_are_lost_and_refused_ones_cannot_open(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine);
        await using var db = await pool.LeaseAsync();
        await using var proxied = await OpenAsync(db, db.Faults.Network.ConnectionString);
        await using var direct = await db.OpenConnectionAsync();

        Assert.Equal(1, await db.Faults.Network.ResetConnectionsAsync());
        await Expect.ConnectionLostAsync(() => proxied.ScalarAsync("SELECT 1"), "a command on the reset proxied connection");
        Assert.Equal(1, Convert.ToInt32(await direct.ScalarAsync("SELECT 1")));

        await using (await db.Faults.Network.RefuseNewConnectionsAsync())
        {
            db.Server.Dialect.ClearPool(db.Faults.Network.ConnectionString);
            var refused = await Assert.ThrowsAnyAsync<DbException>(() => OpenAsync(db, db.Faults.Network.ConnectionString));
            Assert.True(DbErrors.IsTransient(refused), $"{refused.GetType().Name}: {refused.Message}");
        }
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_connection_cut_in_the_middle_of_a_reply_is_lost(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine);
        await using var db = await pool.LeaseAsync();
        await using var proxied = await OpenAsync(db, db.Faults.Network.ConnectionString);
        await using (await db.Faults.Network.CloseAfterBytesAsync(2000))
        {
            var big = engine == DbEngine.PostgreSql ? "SELECT repeat('x', 100000)" : "SELECT REPEAT('x', 100000)";
            await Expect.ConnectionLostAsync(() => proxied.ScalarAsync(big), "a reply cut after 2000 bytes");
        }
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task The_ambiguous_commit_applies_the_write_but_loses_the_reply(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine);
        await using var db = await pool.LeaseAsync();
        await using var proxied = await OpenAsync(db, db.Faults.Network.ConnectionString);
        await using (await db.Faults.Network.AmbiguousCommitAsync())
        {
            var transaction = await proxied.BeginTransactionAsync();
            await proxied.ExecuteAsync("INSERT INTO notes (tag) VALUES ('paid')", transaction);
            await Expect.ConnectionLostAsync(() => transaction.CommitAsync(), "a COMMIT whose reply is lost");
        }

        // The client was told nothing, yet the server committed: a blind retry would write twice.
        await using var direct = await db.OpenConnectionAsync();
        Assert.Equal(1, await direct.CountAsync("notes WHERE tag = 'paid'"));
    }

    [Fact]
    public async Task A_bandwidth_limit_slows_a_large_reply()
    {
        await using var pool = await PoolAsync(DbEngine.PostgreSql);
        await using var db = await pool.LeaseAsync();
        await using var proxied = await OpenAsync(db, db.Faults.Network.ConnectionString);
        await using (await db.Faults.Network.LimitBandwidthAsync(50_000, NetworkDirection.ToClient))
        {
            var clock = Stopwatch.StartNew();
            await proxied.ScalarAsync("SELECT repeat('x', 100000)");
            Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.5), $"100 kB at 50 kB/s took {clock.Elapsed}");
        }
    }

    private static async Task<DatabasePool> PoolAsync(DbEngine engine) =>
        await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 });

    private static Task<DbConnection> OpenAsync(TestDatabase db, string cs) => db.Server.OpenConnectionAsync(cs);
}
