using TestDbKit.Tests.Databases;

namespace TestDbKit.Tests.Faults;

/// <summary>A resilient client (Polly retrying on DbErrors.IsTransient) recovers from the faults; a naive
/// client fails the way production would, and the assertion says why.</summary>
public sealed class ResilienceTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_resilient_client_recovers_from_killed_pooled_sessions(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine);
        await using var db = await pool.LeaseAsync();
        var retry = new CountingRetry(maxRetryAttempts: 5, delay: TimeSpan.FromMilliseconds(20));
        var cs = UncheckedPool(engine, db.ConnectionString);
        await WarmPoolAsync(db, cs);
        var killed = await db.Faults.KillAllSessionsAsync(); // the pooled sessions are dead: "server has gone away"
        Assert.True(killed >= 2, $"the kill ended {killed} session(s), expected the two resting in the pool");

        await Resilience.AssertRecoversAsync(ct => retry.Pipeline.ExecuteAsync(
            async token => await InsertAsync(db, cs, "resilient", token), ct).AsTask(), TimeSpan.FromSeconds(10));
        retry.AssertRetriedLostConnection();
    }

    [Fact]
    public async Task A_naive_client_fails_on_a_dead_pooled_session_and_the_timeline_says_why()
    {
        const DbEngine engine = DbEngine.PostgreSql; // MySqlConnector's connection reset hides this case on MySQL
        await using var pool = await PoolAsync(engine);
        await using var db = await pool.LeaseAsync();
        await WarmPoolAsync(db);
        var killed = await db.Faults.KillAllSessionsAsync();
        Assert.True(killed >= 2, $"the kill ended {killed} session(s), expected the two resting in the pool");

        var e = await Assert.ThrowsAsync<ResilienceException>(() =>
            Resilience.AssertRecoversAsync(ct => InsertAsync(db, engine, "naive", ct), TimeSpan.FromSeconds(10)));
        Assert.Contains("[connection lost, transient]", e.Message, StringComparison.Ordinal);
        Assert.Contains("fault   kill on " + db.Name, e.Message, StringComparison.Ordinal);
        Assert.Contains("A retry policy on DbErrors.IsTransient", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_resilient_client_recovers_from_a_network_reset_and_the_timeline_lists_the_fault(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine);
        await using var db = await pool.LeaseAsync();
        var retry = new CountingRetry(maxRetryAttempts: 5, delay: TimeSpan.FromMilliseconds(20));
        var cs = UncheckedPool(engine, db.Faults.Network.ConnectionString);
        await using (var warm = db.Server.CreateConnection(cs))
        {
            await warm.OpenAsync();
        }

        var reset = 0;
        await Resilience.AssertRecoversAsync(async ct =>
        {
            reset += await db.Faults.Network.ResetConnectionsAsync(ct);
            await retry.Pipeline.ExecuteAsync(async token =>
            {
                await using var c = db.Server.CreateConnection(cs);
                await c.OpenAsync(token);
                await c.ExecuteAsync("INSERT INTO notes (tag) VALUES ('through the proxy')");
            }, ct);
        }, TimeSpan.FromSeconds(10));
        Assert.True(reset >= 1, "the reset ended no connection through the proxy: the pooled one should have been");
        retry.AssertRetriedLostConnection();

        // The same operation with no retry and a budget it cannot meet shows the fault in its timeline.
        var e = await Assert.ThrowsAsync<ResilienceException>(() => Resilience.AssertRecoversAsync(async ct =>
        {
            await using (await db.Faults.Network.StallAsync(ct: ct))
            {
                await using var c = db.Server.CreateConnection(cs + (engine == DbEngine.PostgreSql ? ";Timeout=1" : ";Connection Timeout=1"));
                await c.OpenAsync(ct);
            }
        }, TimeSpan.FromMilliseconds(500)));
        Assert.Contains("fault   network-stall", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_arguments_are_refused()
    {
        await Assert.ThrowsAsync<ArgumentNullException>(() => Resilience.AssertRecoversAsync(null!, TimeSpan.FromSeconds(1)));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Resilience.AssertRecoversAsync(_ => Task.CompletedTask, TimeSpan.Zero));
    }

    private static Task InsertAsync(TestDatabase db, DbEngine engine, string tag, CancellationToken ct) =>
        InsertAsync(db, db.ConnectionString, tag, ct);

    private static async Task InsertAsync(TestDatabase db, string cs, string tag, CancellationToken ct)
    {
        await using var c = db.Server.CreateConnection(cs);
        await c.OpenAsync(ct);
        await using var command = c.CreateCommand();
        command.CommandText = $"INSERT INTO notes (tag) VALUES ('{tag}')";
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Leaves idle sessions in the driver's pool, as an application between requests does.</summary>
    private static async Task WarmPoolAsync(TestDatabase db, string? cs = null)
    {
        await using var a = db.Server.CreateConnection(cs ?? db.ConnectionString);
        await using var b = db.Server.CreateConnection(cs ?? db.ConnectionString);
        await a.OpenAsync();
        await b.OpenAsync();
    }

    /// <summary>A pool that hands out its connections unchecked, as Npgsql's does: MySqlConnector's default
    /// reset on open would quietly replace a dead pooled session, and the fault would never reach the client.</summary>
    internal static string UncheckedPool(DbEngine engine, string cs) => engine == DbEngine.MySql ? cs + ";Connection Reset=false" : cs;

    private static async Task<DatabasePool> PoolAsync(DbEngine engine) =>
        await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 });
}
