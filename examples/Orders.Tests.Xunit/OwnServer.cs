using TestDbKit;

namespace Orders.Tests.Xunit;

/// <summary>A server of the test class's own (an xunit class fixture): see <see cref="OrderServer"/>.</summary>
public abstract class OwnServer(DbEngine engine) : IAsyncLifetime
{
    private OrderServer? _server;

    /// <summary>Leases a database with the orders schema on this server.</summary>
    public ValueTask<TestDatabase> LeaseAsync() =>
        (_server ?? throw new InvalidOperationException("The server has not started.")).LeaseAsync();

#if XUNIT_V3
    // xunit v3: IAsyncLifetime returns ValueTask and is IAsyncDisposable.
    public async ValueTask InitializeAsync() => _server = await OrderServer.StartAsync(engine);

    public async ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
#else
    public async Task InitializeAsync() => _server = await OrderServer.StartAsync(engine);

    public async Task DisposeAsync()
    {
#endif
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

public sealed class OwnPostgreSqlServer() : OwnServer(DbEngine.PostgreSql);

public sealed class OwnMySqlServer() : OwnServer(DbEngine.MySql);
