using System.Collections.Concurrent;
using Orders.Tests;
using TestDbKit;

namespace Orders.Tests.MSTest;

/// <summary>A server of the test class's own, started by the class's first test and stopped after its last:
/// see <see cref="OrderServer"/>. MSTest's class initialize and cleanup are static, so the servers are kept by
/// class name.</summary>
public abstract class OwnServer(DbEngine engine)
{
    private static readonly ConcurrentDictionary<string, Lazy<Task<OrderServer>>> Servers = new();

    /// <summary>The running test's context, set by MSTest.</summary>
    public TestContext TestContext { get; set; } = null!;

    /// <summary>Leases a database with the orders schema on this class's server.</summary>
    protected async ValueTask<TestDatabase> LeaseAsync()
    {
        var server = Servers.GetOrAdd(GetType().FullName!, _ => new Lazy<Task<OrderServer>>(() => OrderServer.StartAsync(engine)));
        return await (await server.Value).LeaseAsync();
    }

    [ClassCleanup(InheritanceBehavior.BeforeEachDerivedClass)]
    public static async Task StopServerAsync(TestContext context)
    {
        if (Servers.TryRemove(context.FullyQualifiedTestClassName!, out var server))
        {
            await (await server.Value).DisposeAsync();
        }
    }
}
