using Orders.Tests;
using TestDbKit;

namespace Orders.Tests.MSTest;

/// <summary>
/// The repository keeps working while the database is broken under it, and loses no acknowledged write.
/// Run them alone in a pipeline step with: dotnet test --filter TestCategory=Chaos
/// </summary>
[TestCategory("Chaos")]
public abstract class OrderChaosTests(DbEngine engine) : OrderDatabase(engine)
{
    [TestMethod]
    public async Task No_acknowledged_order_is_lost_when_sessions_are_killed()
    {
        var workload = new OrderWorkload(Settings);
        Assert.IsTrue(await workload.MovesToANewSessionAsync(async () => TestContext.WriteLine($"killed {await Faults.KillAllSessionsAsync()} session(s)")));
        TestContext.WriteLine(workload.DescribeRecoveries());
        TestContext.WriteLine((await workload.VerifyAsync(Settings)).Summary);
    }

    [TestMethod]
    public async Task No_acknowledged_order_is_lost_while_the_network_stalls_longer_than_the_command_timeout()
    {
        var workload = new OrderWorkload(OrderWorkload.Settings(Database, Faults.Network.ConnectionString, TimeSpan.FromSeconds(1)));
        await workload.RunAsync(async () =>
        {
            await using var stall = await Faults.Network.StallAsync();
            await Task.Delay(TimeSpan.FromSeconds(2)); // the stall's length is the fault: writes in flight time out
        });
        TestContext.WriteLine(workload.DescribeRecoveries());
        // The write in flight when the stall began waited it out, or timed out and was retried: either way it
        // took at least the command timeout (less a margin for the timer).
        Assert.IsGreaterThanOrEqualTo(TimeSpan.FromSeconds(0.9), workload.LongestWrite);
        TestContext.WriteLine((await workload.VerifyAsync(Settings)).Summary); // read directly, not through the proxy
    }

    [TestMethod]
    public async Task No_acknowledged_order_is_lost_under_a_seeded_network_chaos_schedule()
    {
        var workload = new OrderWorkload(OrderWorkload.Settings(Database, Faults.Network.ConnectionString, TimeSpan.FromSeconds(3)));
        await using (var chaos = ChaosSchedule.Start(Faults, new ChaosOptions { MeanInterval = TimeSpan.FromMilliseconds(100) }))
        {
            TestContext.WriteLine($"chaos seed {chaos.Seed} (replay: TESTDBKIT_CHAOS_SEED={chaos.Seed})");
            await workload.RunAsync(() => OrderWorkload.WhenInjectedAsync(chaos, 3), before: 5, after: 5);
            TestContext.WriteLine(chaos.ToString());
        }

        TestContext.WriteLine(workload.DescribeRecoveries());
        TestContext.WriteLine((await workload.VerifyAsync(Settings)).Summary);
    }

    internal static async Task AssertRecoveredWithNothingLostAsync(TestContext context, OrderWorkload workload, OrderDatabaseSettings reader)
    {
        context.WriteLine($"{workload.Acknowledged.Count} order(s) acknowledged; {workload.DescribeRecoveries()}");
        Assert.IsNotEmpty(workload.Recovered, "the fault never reached the application");
        context.WriteLine((await workload.VerifyAsync(reader)).Summary);
    }
}

/// <summary>
/// Faults that reach the whole server, on a server of the fixture's own: an idle timeout shorter than the
/// application's pauses, a clean restart and a crash, each while the repository works. The tests of one class
/// share its server, so they take turns ([DoNotParallelize]).
/// </summary>
[TestCategory("Chaos")]
[TestCategory("OwnServer")] // needs a server the kit runs: filtered out where runs share an External server
public abstract class OrderServerChaosTests(DbEngine engine) : OwnServer(engine)
{
    [TestMethod]
    public async Task No_acknowledged_order_is_lost_when_the_server_closes_idle_sessions()
    {
        await using var database = await LeaseAsync();
        var idle = TimeSpan.FromSeconds(1);
        await using var timeout = await database.Faults.SetIdleTimeoutAsync(idle);
        // The timeout reaches sessions opened from now on: sessions an earlier test on this (reused) database left in
        // the repository's pool predate it and would outlive every pause.
        database.Server.ClearPools();
        var workload = new OrderWorkload(OrderWorkload.Settings(database));
        Assert.AreEqual(2, await workload.PausesThatMovedToANewSessionAsync(idle, pauses: 2));

        TestContext.WriteLine($"{workload.Acknowledged.Count} order(s) acknowledged; {workload.DescribeRecoveries()}");
        TestContext.WriteLine((await workload.VerifyAsync(OrderWorkload.Settings(database))).Summary);
    }

    [TestMethod]
    public async Task No_acknowledged_order_is_lost_when_the_server_restarts()
    {
        await using var database = await LeaseAsync();
        var workload = new OrderWorkload(OrderWorkload.Settings(database));
        await workload.RunAsync(() => database.Faults.RestartServerAsync());
        await OrderChaosTests.AssertRecoveredWithNothingLostAsync(TestContext, workload, OrderWorkload.Settings(database));
    }

    [TestMethod]
    public async Task No_acknowledged_order_is_lost_when_the_server_crashes()
    {
        await using var database = await LeaseAsync();
        var workload = new OrderWorkload(OrderWorkload.Settings(database));
        await workload.RunAsync(() => database.Faults.CrashServerAsync());
        await OrderChaosTests.AssertRecoveredWithNothingLostAsync(TestContext, workload, OrderWorkload.Settings(database));
    }
}

[TestClass]
public sealed class PostgreSqlOrderChaosTests() : OrderChaosTests(DbEngine.PostgreSql);

[TestClass]
public sealed class MySqlOrderChaosTests() : OrderChaosTests(DbEngine.MySql);

[TestClass, DoNotParallelize]
public sealed class PostgreSqlOrderServerChaosTests() : OrderServerChaosTests(DbEngine.PostgreSql);

[TestClass, DoNotParallelize]
public sealed class MySqlOrderServerChaosTests() : OrderServerChaosTests(DbEngine.MySql);
