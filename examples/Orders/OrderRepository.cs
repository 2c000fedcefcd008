using System.Data.Common;
using Polly;
using Polly.Retry;
using TestDbKit;

namespace Orders;

/// <summary>
/// Plain ADO.NET over PostgreSQL or MySQL, written the way production needs it: every call opens its own
/// pooled connection (validated before use) and disposes it, so no connection is shared between threads or
/// kept past its use, and every call runs in a Polly pipeline that retries what
/// <see cref="DbErrors.IsTransient"/> calls worth retrying. Writes are idempotent, so a retry after a lost
/// reply never stores an order twice.
/// </summary>
/// <param name="settings">Where the database is, and the pool settings.</param>
/// <param name="onRecoverableError">Told of every error the repository recovers from (a retried call, a dead pooled
/// connection replaced), for the application's logs and metrics.</param>
public sealed class OrderRepository(OrderDatabaseSettings settings, Action<Exception>? onRecoverableError = null)
{
    private readonly ResiliencePipeline _pipeline = CreatePipeline(onRecoverableError);

    /// <summary>Up to ten retries on transient database errors only, with exponential backoff and jitter
    /// capped at one second: about five seconds of waiting in all, enough to ride out a server restart.</summary>
    /// <param name="onRetry">Told of each error that is retried.</param>
    public static ResiliencePipeline CreatePipeline(Action<Exception>? onRetry = null) => new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<Exception>(DbErrors.IsTransient),
            MaxRetryAttempts = 10,
            Delay = TimeSpan.FromMilliseconds(20),
            MaxDelay = TimeSpan.FromSeconds(1),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            OnRetry = args =>
            {
                if (args.Outcome.Exception is { } e)
                {
                    onRetry?.Invoke(e);
                }

                return ValueTask.CompletedTask;
            },
        })
        .Build();

    /// <summary>Creates the orders table (portable SQL for PostgreSQL and MySQL).</summary>
    public static string Schema =>
        "CREATE TABLE orders (id BIGINT PRIMARY KEY, customer VARCHAR(100) NOT NULL UNIQUE, total DECIMAL(12,2) NOT NULL)";

    /// <summary>Stores an order. Throws the driver's exception when another order already has its id or
    /// customer; storing the same order again is not an error (a retry after a lost reply does that).</summary>
    public Task AddAsync(Order order, CancellationToken ct = default) => _pipeline.ExecuteAsync(async token =>
    {
        await using var connection = await OpenAsync(token);
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
            // (another order with this id or customer) is the caller's error. Checked on a fresh connection:
            // the one the failed statement ran on may have died with it (a network reset right after the error).
            await using var check = await OpenAsync(token);
            if (await FindOnAsync(check, order.Id, token) != order)
            {
                throw;
            }
        }
    }, ct).AsTask();

    /// <summary>The order with this id, or null.</summary>
    public Task<Order?> FindAsync(long id, CancellationToken ct = default) => _pipeline.ExecuteAsync(async token =>
    {
        await using var connection = await OpenAsync(token);
        return await FindOnAsync(connection, id, token);
    }, ct).AsTask();

    /// <summary>How many orders there are.</summary>
    public Task<long> CountAsync(CancellationToken ct = default) => _pipeline.ExecuteAsync(async token =>
    {
        await using var connection = await OpenAsync(token);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM orders";
        return Convert.ToInt64(await command.ExecuteScalarAsync(token), System.Globalization.CultureInfo.InvariantCulture);
    }, ct).AsTask();

    /// <summary>
    /// Opens a pooled connection and proves it alive before use (what SQLAlchemy calls pool_pre_ping): a pooled
    /// session the server or the network dropped while it was idle is replaced here, with its idle siblings,
    /// instead of failing the caller's statement half-way. One extra round trip per call buys that.
    /// </summary>
    private async Task<DbConnection> OpenAsync(CancellationToken ct)
    {
        var connection = await OpenNewAsync(ct);
        try
        {
            await PingAsync(connection, ct);
            return connection;
        }
        catch (Exception e) when (DbErrors.IsConnectionLost(e))
        {
            // A new session now (the pool was cleared); if this one fails too, the retry policy decides.
            onRecoverableError?.Invoke(e);
            OrderDatabaseSettings.ClearPool(connection);
            await connection.DisposeAsync();
            return await OpenNewAsync(ct);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private async Task<DbConnection> OpenNewAsync(CancellationToken ct)
    {
        var connection = settings.CreateConnection();
        try
        {
            await connection.OpenAsync(ct);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private static async Task PingAsync(DbConnection connection, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT 1";
        await command.ExecuteScalarAsync(ct);
    }

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
