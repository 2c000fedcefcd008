using Orders.Tests;
using TestDbKit;
#if !XUNIT_V3
using Xunit.Abstractions; // xunit v3 has ITestOutputHelper in the Xunit namespace
#endif

namespace Orders.Tests.Xunit;

/// <summary>
/// The repository keeps working while the database is broken under it, and loses no acknowledged write.
/// Run them alone in a pipeline step with: dotnet test --filter Category=Chaos
/// </summary>
[Trait("Category", "Chaos")]
public abstract class OrderChaosTests(DbEngine engine, ITestOutputHelper output) : OrderDatabase(engine)
{
    [Fact]
    public async Task No_acknowledged_order_is_lost_when_sessions_are_killed()
    {
        var workload = new OrderWorkload(Settings);
        Assert.True(await workload.MovesToANewSessionAsync(async () => output.WriteLine($"killed {await Faults.KillAllSessionsAsync()} session(s)")));
        output.WriteLine(workload.DescribeRecoveries());
        output.WriteLine((await workload.VerifyAsync(Settings)).Summary);
    }

    [Fact]
    public async Task No_acknowledged_order_is_lost_while_the_network_stalls_longer_than_the_command_timeout()
    {
        var workload = new OrderWorkload(OrderWorkload.Settings(Database, Faults.Network.ConnectionString, TimeSpan.FromSeconds(1)));
        await workload.RunAsync(async () =>
        {
            await using var stall = await Faults.Network.StallAsync();
            await Task.Delay(TimeSpan.FromSeconds(2)); // the stall's length is the fault: writes in flight time out
        });
        output.WriteLine(workload.DescribeRecoveries());
        // The write in flight when the stall began waited it out, or timed out and was retried: either way it
        // took at least the command timeout (less a margin for the timer).
        Assert.True(workload.LongestWrite >= TimeSpan.FromSeconds(0.9), $"longest write {workload.LongestWrite}");
        output.WriteLine((await workload.VerifyAsync(Settings)).Summary); // read directly, not through the proxy
    }

    [Fact]
    public async Task No_acknowledged_order_is_lost_under_a_seeded_network_chaos_schedule()
    {
        var workload = new OrderWorkload(OrderWorkload.Settings(Database, Faults.Network.ConnectionString, TimeSpan.FromSeconds(3)));
        await using (var chaos = ChaosSchedule.Start(Faults, new ChaosOptions { MeanInterval = TimeSpan.FromMilliseconds(100) }))
        {
            output.WriteLine($"chaos seed {chaos.Seed} (replay: TESTDBKIT_CHAOS_SEED={chaos.Seed})");
            await workload.RunAsync(() => OrderWorkload.WhenInjectedAsync(chaos, 3), before: 5, after: 5);
            output.WriteLine(chaos.ToString());
        }

        output.WriteLine(workload.DescribeRecoveries());
        output.WriteLine((await workload.VerifyAsync(Settings)).Summary);
    }
}

public sealed class PostgreSqlOrderChaosTests(ITestOutputHelper output) : OrderChaosTests(DbEngine.PostgreSql, output);

public sealed class MySqlOrderChaosTests(ITestOutputHelper output) : OrderChaosTests(DbEngine.MySql, output);

/// <summary>
/// Faults that reach the whole server, on a server of the class's own: an idle timeout shorter than the
/// application's pauses, a clean restart and a crash, each while the repository works.
/// </summary>
[Trait("Category", "Chaos")]
[Trait("Category", "OwnServer")] // needs a server the kit runs: filtered out where runs share an External server
public abstract class OrderServerChaosTests<TServer>(TServer server, ITestOutputHelper output) : IClassFixture<TServer>
    where TServer : OwnServer
{
    [Fact]
    public async Task No_acknowledged_order_is_lost_when_the_server_closes_idle_sessions()
    {
        await using var database = await server.LeaseAsync();
        var idle = TimeSpan.FromSeconds(1);
        await using var timeout = await database.Faults.SetIdleTimeoutAsync(idle);
        // The timeout reaches sessions opened from now on: sessions an earlier test on this (reused) database left in
        // the repository's pool predate it and would outlive every pause.
        database.Server.ClearPools();
        var workload = new OrderWorkload(OrderWorkload.Settings(database));
        Assert.Equal(2, await workload.PausesThatMovedToANewSessionAsync(idle, pauses: 2));

        output.WriteLine($"{workload.Acknowledged.Count} order(s) acknowledged; {workload.DescribeRecoveries()}");
        output.WriteLine((await workload.VerifyAsync(OrderWorkload.Settings(database))).Summary);
    }

    [Fact]
    public async Task No_acknowledged_order_is_lost_when_the_server_restarts()
    {
        await using var database = await server.LeaseAsync();
        var workload = new OrderWorkload(OrderWorkload.Settings(database));
        await workload.RunAsync(() => database.Faults.RestartServerAsync());
        await AssertRecoveredWithNothingLostAsync(workload, database);
    }

    [Fact]
    public async Task No_acknowledged_order_is_lost_when_the_server_crashes()
    {
        await using var database = await server.LeaseAsync();
        var workload = new OrderWorkload(OrderWorkload.Settings(database));
        await workload.RunAsync(() => database.Faults.CrashServerAsync());
        await AssertRecoveredWithNothingLostAsync(workload, database);
    }

    private async Task AssertRecoveredWithNothingLostAsync(OrderWorkload workload, TestDatabase database)
    {
        output.WriteLine($"{workload.Acknowledged.Count} order(s) acknowledged; {workload.DescribeRecoveries()}");
        Assert.NotEmpty(workload.Recovered); // the fault reached the application
        output.WriteLine((await workload.VerifyAsync(OrderWorkload.Settings(database))).Summary);
    }
}

public sealed class PostgreSqlOrderServerChaosTests(OwnPostgreSqlServer server, ITestOutputHelper output)
    : OrderServerChaosTests<OwnPostgreSqlServer>(server, output);

public sealed class MySqlOrderServerChaosTests(OwnMySqlServer server, ITestOutputHelper output)
    : OrderServerChaosTests<OwnMySqlServer>(server, output);
