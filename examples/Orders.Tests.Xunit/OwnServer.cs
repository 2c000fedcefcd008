using Orders.Tests;
using TestDbKit;

namespace Orders.Tests.Xunit;

/// <summary>
/// A database server of the test class's own, shared by its tests: for faults that reach the whole server
/// (restart, crash, MySQL's global wait_timeout), which the run-wide shared server must never see.
/// </summary>
public abstract class OwnServer(DbEngine engine) : IAsyncLifetime
{
    private DbServer? _server;
    private DatabasePool? _pool;

    /// <summary>Leases a database with the orders schema on this server.</summary>
    public ValueTask<TestDatabase> LeaseAsync() =>
        (_pool ?? throw new InvalidOperationException("The server has not started.")).LeaseAsync();

    public async Task InitializeAsync()
    {
        _server = await DbServer.StartAsync(engine);
        _pool = await DatabasePool.CreateAsync(_server, new DatabasePoolOptions { CreateSchema = OrderWorkload.CreateSchemaAsync });
    }

    public async Task DisposeAsync()
    {
        if (_pool is not null)
        {
            await _pool.DisposeAsync();
        }

        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

public sealed class OwnPostgreSqlServer() : OwnServer(DbEngine.PostgreSql);

public sealed class OwnMySqlServer() : OwnServer(DbEngine.MySql);
