using Orders.Tests;
using TestDbKit;

namespace Orders.Tests.NUnit;

/// <summary>
/// The repository keeps working while the database is broken under it, and loses no acknowledged write.
/// Run them alone in a pipeline step with: dotnet test --filter Category=Chaos
/// </summary>
[TestFixture(DbEngine.PostgreSql)]
[TestFixture(DbEngine.MySql)]
[Category("Chaos")]
public sealed class OrderChaosTests(DbEngine engine) : OrderDatabase(engine)
{
    [Test]
    public async Task No_acknowledged_order_is_lost_when_sessions_are_killed()
    {
        var workload = new OrderWorkload(Settings);
        Assert.That(await workload.MovesToANewSessionAsync(async () => await TestContext.Out.WriteLineAsync($"killed {await Faults.KillAllSessionsAsync()} session(s)")), Is.True);
        await TestContext.Out.WriteLineAsync(workload.DescribeRecoveries());
        await TestContext.Out.WriteLineAsync((await workload.VerifyAsync(Settings)).Summary);
    }

    [Test]
    public async Task No_acknowledged_order_is_lost_while_the_network_stalls_longer_than_the_command_timeout()
    {
        var workload = new OrderWorkload(OrderWorkload.Settings(Database, Faults.Network.ConnectionString, TimeSpan.FromSeconds(1)));
        await workload.RunAsync(async () =>
        {
            await using var stall = await Faults.Network.StallAsync();
            await Task.Delay(TimeSpan.FromSeconds(2)); // the stall's length is the fault: writes in flight time out
        });
        await TestContext.Out.WriteLineAsync(workload.DescribeRecoveries());
        // The write in flight when the stall began waited it out, or timed out and was retried: either way it
        // took at least the command timeout (less a margin for the timer).
        Assert.That(workload.LongestWrite, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(0.9)));
        await TestContext.Out.WriteLineAsync((await workload.VerifyAsync(Settings)).Summary); // read directly, not through the proxy
    }

    [Test]
    public async Task No_acknowledged_order_is_lost_under_a_seeded_network_chaos_schedule()
    {
        var workload = new OrderWorkload(OrderWorkload.Settings(Database, Faults.Network.ConnectionString, TimeSpan.FromSeconds(3)));
        await using (var chaos = ChaosSchedule.Start(Faults, new ChaosOptions { MeanInterval = TimeSpan.FromMilliseconds(100) }))
        {
            await TestContext.Out.WriteLineAsync($"chaos seed {chaos.Seed} (replay: TESTDBKIT_CHAOS_SEED={chaos.Seed})");
            await workload.RunAsync(() => OrderWorkload.WhenInjectedAsync(chaos, 3), before: 5, after: 5);
            await TestContext.Out.WriteLineAsync(chaos.ToString());
        }

        await TestContext.Out.WriteLineAsync(workload.DescribeRecoveries());
        await TestContext.Out.WriteLineAsync((await workload.VerifyAsync(Settings)).Summary);
    }

    internal static async Task AssertRecoveredWithNothingLostAsync(OrderWorkload workload, OrderDatabaseSettings reader)
    {
        await TestContext.Out.WriteLineAsync($"{workload.Acknowledged.Count} order(s) acknowledged; {workload.DescribeRecoveries()}");
        Assert.That(workload.Recovered, Is.Not.Empty, "the fault never reached the application");
        await TestContext.Out.WriteLineAsync((await workload.VerifyAsync(reader)).Summary);
    }
}

/// <summary>
/// Faults that reach the whole server, on a server of the fixture's own: an idle timeout shorter than the
/// application's pauses, a clean restart and a crash, each while the repository works. The fixtures of both
/// engines run side by side; the tests of one run one at a time, since they share its server.
/// </summary>
[TestFixture(DbEngine.PostgreSql)]
[TestFixture(DbEngine.MySql)]
[Category("Chaos")]
[Category("OwnServer")] // needs a server the kit runs: filtered out where runs share an External server
public sealed class OrderServerChaosTests(DbEngine engine) : OwnServer(engine)
{
    [Test]
    public async Task No_acknowledged_order_is_lost_when_the_server_closes_idle_sessions()
    {
        await using var database = await LeaseAsync();
        var idle = TimeSpan.FromSeconds(1);
        await using var timeout = await database.Faults.SetIdleTimeoutAsync(idle);
        // The timeout reaches sessions opened from now on: sessions an earlier test on this (reused) database left in
        // the repository's pool predate it and would outlive every pause.
        database.Server.ClearPools();
        var workload = new OrderWorkload(OrderWorkload.Settings(database));
        Assert.That(await workload.PausesThatMovedToANewSessionAsync(idle, pauses: 2), Is.EqualTo(2));

        await TestContext.Out.WriteLineAsync($"{workload.Acknowledged.Count} order(s) acknowledged; {workload.DescribeRecoveries()}");
        await TestContext.Out.WriteLineAsync((await workload.VerifyAsync(OrderWorkload.Settings(database))).Summary);
    }

    [Test]
    public async Task No_acknowledged_order_is_lost_when_the_server_restarts()
    {
        await using var database = await LeaseAsync();
        var workload = new OrderWorkload(OrderWorkload.Settings(database));
        await workload.RunAsync(() => database.Faults.RestartServerAsync());
        await OrderChaosTests.AssertRecoveredWithNothingLostAsync(workload, OrderWorkload.Settings(database));
    }

    [Test]
    public async Task No_acknowledged_order_is_lost_when_the_server_crashes()
    {
        await using var database = await LeaseAsync();
        var workload = new OrderWorkload(OrderWorkload.Settings(database));
        await workload.RunAsync(() => database.Faults.CrashServerAsync());
        await OrderChaosTests.AssertRecoveredWithNothingLostAsync(workload, OrderWorkload.Settings(database));
    }
}
