using System.Data.Common;

namespace Orders;

/// <summary>
/// Plain ADO.NET over any provider: every call opens its own pooled connection and disposes it, so no
/// connection is shared between threads or kept past its use.
/// </summary>
public sealed class OrderRepository(Func<DbConnection> connect)
{
    /// <summary>Creates the orders table (portable SQL for PostgreSQL and MySQL).</summary>
    public static string Schema =>
        "CREATE TABLE orders (id BIGINT PRIMARY KEY, customer VARCHAR(100) NOT NULL UNIQUE, total DECIMAL(12,2) NOT NULL)";

    /// <summary>Stores an order; throws the driver's exception on a duplicate id or customer.</summary>
    public async Task AddAsync(Order order, CancellationToken ct = default)
    {
        await using var connection = connect();
        await connection.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = "INSERT INTO orders (id, customer, total) VALUES (@id, @customer, @total)";
        Add(command, "@id", order.Id);
        Add(command, "@customer", order.Customer);
        Add(command, "@total", order.Total);
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>The order with this id, or null.</summary>
    public async Task<Order?> FindAsync(long id, CancellationToken ct = default)
    {
        await using var connection = connect();
        await connection.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, customer, total FROM orders WHERE id = @id";
        Add(command, "@id", id);
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct)
            ? new Order(reader.GetInt64(0), reader.GetString(1), reader.GetDecimal(2))
            : null;
    }

    /// <summary>How many orders there are.</summary>
    public async Task<long> CountAsync(CancellationToken ct = default)
    {
        await using var connection = connect();
        await connection.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM orders";
        return Convert.ToInt64(await command.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static void Add(DbCommand command, string name, object value)
    {
        var p = command.CreateParameter();
        p.ParameterName = name;
        p.Value = value;
        command.Parameters.Add(p);
    }
}
