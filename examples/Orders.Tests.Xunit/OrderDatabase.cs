using System.Data.Common;
using TestDbKit;

namespace Orders.Tests.Xunit;

/// <summary>
/// One database with the orders schema per test class, on the run-wide server the kit starts.
/// (Until the kit's database pool lands, the example creates and drops its database itself.)
/// </summary>
public abstract class OrderDatabase(DbEngine engine) : IAsyncLifetime
{
    private readonly string _name = "orders_" + Guid.NewGuid().ToString("N")[..12];
    private DbServer? _server;

    protected OrderRepository Orders { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        _server = await DbServer.SharedAsync(engine);
        await using (var admin = await _server.OpenAdminConnectionAsync())
        {
            await ExecuteAsync(admin, $"CREATE DATABASE {_name}");
        }

        var connectionString = _server.ConnectionStringFor(_name);
        await using (var connection = Connect(connectionString))
        {
            await connection.OpenAsync();
            await ExecuteAsync(connection, OrderRepository.Schema);
        }

        Orders = new OrderRepository(() => Connect(connectionString));
    }

    public async Task DisposeAsync()
    {
        if (_server is null)
        {
            return;
        }

        _server.ClearPools();
        await using var admin = await _server.OpenAdminConnectionAsync();
        await ExecuteAsync(admin, $"DROP DATABASE {_name}");
    }

    private DbConnection Connect(string connectionString) => _server!.CreateConnection(connectionString);

    private static async Task ExecuteAsync(DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }
}
