using Orders.Tests;
using TestDbKit;

namespace Orders.Tests.NUnit;

/// <summary>A server of the fixture's own, started once for its tests: see <see cref="OrderServer"/>.</summary>
public abstract class OwnServer(DbEngine engine)
{
    private OrderServer? _server;

    /// <summary>Leases a database with the orders schema on this fixture's server.</summary>
    protected ValueTask<TestDatabase> LeaseAsync() =>
        (_server ?? throw new InvalidOperationException("The server has not started.")).LeaseAsync();

    [OneTimeSetUp]
    public async Task StartServerAsync() => _server = await OrderServer.StartAsync(engine);

    [OneTimeTearDown]
    public async Task StopServerAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
