using System.Data.Common;
using Polly;
using Polly.Retry;
using TestDbKit;

namespace Orders;

/// <summary>
/// Plain ADO.NET over any provider, written the way production needs it: every call opens its own pooled
/// connection and disposes it (no connection shared between threads or kept past its use), and every call
/// runs in a Polly pipeline that retries what <see cref="DbErrors.IsTransient"/> calls worth retrying.
/// Writes are idempotent, so a retry after a lost reply never stores an order twice.
/// </summary>
public sealed class OrderRepository(Func<DbConnection> connect, ResiliencePipeline? pipeline = null)
{
    private readonly ResiliencePipeline _pipeline = pipeline ?? DefaultPipeline;

    /// <summary>Five retries with exponential backoff and jitter, on transient database errors only.</summary>
    public static ResiliencePipeline DefaultPipeline { get; } = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(DbErrors.IsTransient),
            MaxRetryAttempts = 5,
            Delay = TimeSpan.FromMilliseconds(20),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
        })
        .Build();

    /// <summary>Creates the orders table (portable SQL for PostgreSQL and MySQL).</summary>
    public static string Schema =>
        "CREATE TABLE orders (id BIGINT PRIMARY KEY, customer VARCHAR(100) NOT NULL UNIQUE, total DECIMAL(12,2) NOT NULL)";

    /// <summary>Stores an order. Throws the driver's exception when another order already has its id or
    /// customer; storing the same order again is not an error (a retry after a lost reply does that).</summary>
    public Task AddAsync(Order order, CancellationToken ct = default) => _pipeline.ExecuteAsync(async token =>
    {
        await using var connection = connect();
        await connection.OpenAsync(token);
        await using var command = connection.CreateCommand();
        command.CommandText = "INSERT INTO orders (id, customer, total) VALUES (@id, @customer, @total)";
        Add(command, "@id", order.Id);
        Add(command, "@customer", order.Customer);
        Add(command, "@total", order.Total);
        try
        {
            await command.ExecuteNonQueryAsync(token);
        }
        catch (DbException e) when (DbErrors.IsIntegrityViolation(e))
        {
            // Already stored by an earlier attempt whose reply was lost? Then this is success; anything else
            // (another order with this id or customer) is the caller's error.
            if (await FindOnAsync(connection, order.Id, token) != order)
            {
                throw;
            }
        }
    }, ct).AsTask();

    /// <summary>The order with this id, or null.</summary>
    public Task<Order?> FindAsync(long id, CancellationToken ct = default) => _pipeline.ExecuteAsync(async token =>
    {
        await using var connection = connect();
        await connection.OpenAsync(token);
        return await FindOnAsync(connection, id, token);
    }, ct).AsTask();

    /// <summary>How many orders there are.</summary>
    public Task<long> CountAsync(CancellationToken ct = default) => _pipeline.ExecuteAsync(async token =>
    {
        await using var connection = connect();
        await connection.OpenAsync(token);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM orders";
        return Convert.ToInt64(await command.ExecuteScalarAsync(token), System.Globalization.CultureInfo.InvariantCulture);
    }, ct).AsTask();

    private static async Task<Order?> FindOnAsync(DbConnection connection, long id, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, customer, total FROM orders WHERE id = @id";
        Add(command, "@id", id);
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct)
            ? new Order(reader.GetInt64(0), reader.GetString(1), reader.GetDecimal(2))
            : null;
    }

    private static void Add(DbCommand command, string name, object value)
    {
        var p = command.CreateParameter();
        p.ParameterName = name;
        p.Value = value;
        command.Parameters.Add(p);
    }
}
