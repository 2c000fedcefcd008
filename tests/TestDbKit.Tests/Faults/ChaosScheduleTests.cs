using Polly;
using Polly.Retry;
using TestDbKit.Tests.Databases;

namespace TestDbKit.Tests.Faults;

public sealed class ChaosScheduleTests
{
    [Fact]
    public void The_same_seed_plans_the_same_faults()
    {
        var options = new ChaosOptions();
        Assert.Equal(ChaosSchedule.Plan(42, options, 30), ChaosSchedule.Plan(42, options, 30));
        Assert.NotEqual(ChaosSchedule.Plan(42, options, 30), ChaosSchedule.Plan(43, options, 30));
        Assert.Throws<ArgumentNullException>(() => ChaosSchedule.Start(null!, new ChaosOptions()));
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_resilient_client_loses_no_acknowledged_write_under_chaos(DbEngine engine)
    {
        var retry = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(DbErrors.IsTransient),
                MaxRetryAttempts = 20,
                Delay = TimeSpan.FromMilliseconds(10),
            })
            .Build();
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();
        var cs = db.Faults.Network.ConnectionString + (engine == DbEngine.PostgreSql ? ";Timeout=3;Command Timeout=3" : ";Connection Timeout=3;Default Command Timeout=3");
        var acknowledged = new List<string>();
        var options = new ChaosOptions { Seed = 1234, MeanInterval = TimeSpan.FromMilliseconds(100) };

        ChaosSchedule chaos;
        await using (chaos = ChaosSchedule.Start(db.Faults, options))
        {
            // Write until the schedule has injected a few faults (and at least 60 rows), within a bound.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (var i = 0; i < 60 || chaos.Events.Count < 3; i++)
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"only {chaos.Events.Count} fault(s) in 30 s");
                var tag = $"order{i}";
                await retry.ExecuteAsync(async ct =>
                {
                    await using var c = db.Server.CreateConnection(cs);
                    await c.OpenAsync(ct);
                    await using var command = c.CreateCommand();
                    // Idempotent: a retry after a lost reply must not write twice.
                    command.CommandText = engine == DbEngine.PostgreSql
                        ? $"INSERT INTO notes (tag) VALUES ('{tag}') ON CONFLICT DO NOTHING"
                        : $"INSERT IGNORE INTO notes (tag) VALUES ('{tag}')";
                    await command.ExecuteNonQueryAsync(ct);
                });
                acknowledged.Add(tag);
            }
        }

        Assert.NotEmpty(chaos.Events);
        var planned = ChaosSchedule.Plan(1234, options, chaos.Events.Count).Select(e => e.Fault);
        Assert.Equal(planned, chaos.Events.Select(e => e.Fault));
        await using var direct = await db.OpenConnectionAsync();
        Assert.Equal(acknowledged.Count, await direct.CountAsync("notes"));
    }
}
