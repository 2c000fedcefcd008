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
        var retry = new CountingRetry(maxRetryAttempts: 20, delay: TimeSpan.FromMilliseconds(10), backoff: Polly.DelayBackoffType.Constant);
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();
        // Pooled connections handed out unchecked, so a killed or reset pooled session reaches the client on MySQL too.
        var cs = ResilienceTests.UncheckedPool(engine, db.Faults.Network.ConnectionString) + (engine == DbEngine.PostgreSql ? ";Timeout=3;Command Timeout=3" : ";Connection Timeout=3;Default Command Timeout=3");
        var acknowledged = new List<string>();
        var options = new ChaosOptions { Seed = 1234, MeanInterval = TimeSpan.FromMilliseconds(100) };

        ChaosSchedule chaos;
        await using (chaos = ChaosSchedule.Start(db.Faults, options))
        {
            // Write until the schedule has injected a few faults, one of which reached the client (it retried an
            // error), and at least 60 rows, within a bound.
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (var i = 0; i < 60 || chaos.Events.Count < 3 || retry.Retried.Count == 0; i++)
            {
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"only {chaos.Events.Count} fault(s) and {retry.Retried.Count} retried error(s) in 30 s");
                var tag = $"order{i}";
                await retry.Pipeline.ExecuteAsync(async ct =>
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
        retry.AssertRetriedTransient(); // the faults reached the client, which recovered from them
        var planned = ChaosSchedule.Plan(1234, options, chaos.Events.Count).Select(e => e.Fault);
        Assert.Equal(planned, chaos.Events.Select(e => e.Fault));
        await using var direct = await db.OpenConnectionAsync();
        Assert.Equal(acknowledged.Count, await direct.CountAsync("notes"));
    }
}

/// <summary>Replay: <c>TESTDBKIT_CHAOS_SEED</c> seeds a schedule that sets no seed of its own. Changes a
/// process-wide variable, so it runs in the environment collection, alone.</summary>
[Collection(EnvironmentCollection.Name)]
public sealed class ChaosSeedReplayTests
{
    [Fact]
    public async Task TESTDBKIT_CHAOS_SEED_replays_the_same_faults_and_is_the_seed_the_schedule_reports()
    {
        const int seed = 271828;
        // Faults on the network proxy only, which nothing here connects through: harmless to the database.
        var options = new ChaosOptions
        {
            Faults = [ChaosFault.NetworkLatency, ChaosFault.NetworkStall, ChaosFault.NetworkReset],
            MeanInterval = TimeSpan.FromMilliseconds(20),
            MaxDuration = TimeSpan.FromMilliseconds(40),
        };
        Assert.Null(options.Seed);
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(DbEngine.PostgreSql), new DatabasePoolOptions { MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();

        var printed = new StringWriter();
        var stderr = Console.Error;
        (int Seed, IReadOnlyList<ChaosEvent> Events, string Text) first, second;
        using (new EnvironmentScope(("TESTDBKIT_CHAOS_SEED", seed.ToString(System.Globalization.CultureInfo.InvariantCulture))))
        {
            Console.SetError(printed);
            try
            {
                first = await RunAsync(db, options);
                second = await RunAsync(db, options);
            }
            finally
            {
                Console.SetError(stderr);
            }
        }

        // The seed reported, everywhere it is reported, is the one the variable set.
        Assert.Equal(seed, first.Seed);
        Assert.Equal(seed, second.Seed);
        Assert.StartsWith($"chaos seed {seed},", first.Text, StringComparison.Ordinal);
        Assert.Contains($"chaos schedule seed {seed} (replay: TESTDBKIT_CHAOS_SEED={seed})", printed.ToString(), StringComparison.Ordinal);
        Assert.Contains(TestDbKit.Diagnostics.RunLog.SeedsSoFar, s => s.Seed == seed && s.Source == nameof(ChaosSchedule));

        // Both runs injected the faults that seed plans, in order and held as long; another seed plans others.
        var planned = ChaosSchedule.Plan(seed, options, Injected).Select(e => (e.Fault, e.Duration)).ToList();
        Assert.Equal(planned, first.Events.Take(Injected).Select(e => (e.Fault, e.Duration)));
        Assert.Equal(planned, second.Events.Take(Injected).Select(e => (e.Fault, e.Duration)));
        Assert.NotEqual(planned, ChaosSchedule.Plan(seed + 1, options, Injected).Select(e => (e.Fault, e.Duration)));
        Assert.All(first.Events.Concat(second.Events), e => Assert.Null(e.Error));
    }

    private const int Injected = 6;

    private static async Task<(int Seed, IReadOnlyList<ChaosEvent> Events, string Text)> RunAsync(TestDatabase db, ChaosOptions options)
    {
        ChaosSchedule chaos;
        await using (chaos = ChaosSchedule.Start(db.Faults, options))
        {
            await TestSupport.EventuallyAsync(() => chaos.Events.Count >= Injected, TimeSpan.FromSeconds(30), $"{Injected} faults injected");
        }

        return (chaos.Seed, chaos.Events, chaos.ToString());
    }
}
