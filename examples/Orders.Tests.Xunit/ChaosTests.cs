using TestDbKit;

namespace Orders.Tests.Xunit;

/// <summary>
/// The repository keeps working while the database is broken under it, and loses no acknowledged write.
/// Run them alone in a pipeline step with: dotnet test --filter Category=Chaos
/// </summary>
[Trait("Category", "Chaos")]
public abstract class OrderChaosTests(DbEngine engine) : OrderDatabase(engine)
{
    [Fact]
    public async Task No_acknowledged_order_is_lost_when_sessions_are_killed()
    {
        var acknowledged = new List<Order>();
        for (var i = 1; i <= 60; i++)
        {
            if (i % 10 == 0)
            {
                await Faults.KillAllSessionsAsync(); // idle pooled sessions die too: "server has gone away"
            }

            var order = new Order(i, $"customer{i}", i);
            await Orders.AddAsync(order);
            acknowledged.Add(order);
        }

        foreach (var order in acknowledged)
        {
            Assert.Equal(order, await Orders.FindAsync(order.Id));
        }
    }

    [Fact]
    public async Task No_acknowledged_order_is_lost_under_a_seeded_network_chaos_schedule()
    {
        var throughProxy = Faults.Network.ConnectionString + (Engine == DbEngine.PostgreSql ? ";Timeout=3;Command Timeout=3" : ";Connection Timeout=3;Default Command Timeout=3");
        var orders = new OrderRepository(() => Database.Server.CreateConnection(throughProxy));
        var acknowledged = new List<Order>();
        await using (var chaos = ChaosSchedule.Start(Faults, new ChaosOptions { MeanInterval = TimeSpan.FromMilliseconds(100) }))
        {
            for (var i = 1; i <= 60 || chaos.Events.Count < 3; i++)
            {
                var order = new Order(i, $"customer{i}", i);
                await orders.AddAsync(order);
                acknowledged.Add(order);
            }
        }

        Assert.Equal(acknowledged.Count, await Orders.CountAsync()); // read directly, not through the proxy
    }
}

public sealed class PostgreSqlOrderChaosTests() : OrderChaosTests(DbEngine.PostgreSql);

public sealed class MySqlOrderChaosTests() : OrderChaosTests(DbEngine.MySql);
