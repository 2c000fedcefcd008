using TestDbKit;

namespace Orders.Tests;

/// <summary>
/// A database server of a test class's own with the orders schema, shared by the class's tests: for faults
/// that reach the whole server (restart, crash, MySQL's global wait_timeout), which the run-wide shared
/// server must never see.
/// </summary>
public sealed class OrderServer : IAsyncDisposable
{
    private readonly DbServer _server;
    private readonly DatabasePool _pool;

    private OrderServer(DbServer server, DatabasePool pool)
    {
        _server = server;
        _pool = pool;
    }

    /// <summary>Starts a server on the default provider (or <c>TESTDBKIT_PROVIDER</c>) and builds the schema.</summary>
    public static async Task<OrderServer> StartAsync(DbEngine engine)
    {
        var server = await DbServer.StartAsync(engine);
        try
        {
            return new OrderServer(server, await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = OrderWorkload.CreateSchemaAsync }));
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Leases a database with the orders schema; dispose it to give it back.</summary>
    public ValueTask<TestDatabase> LeaseAsync() => _pool.LeaseAsync();

    /// <summary>Drops the databases and stops the server.</summary>
    public async ValueTask DisposeAsync()
    {
        await _pool.DisposeAsync();
        await _server.DisposeAsync();
    }
}
