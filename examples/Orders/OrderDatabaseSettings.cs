using System.Data.Common;
using MySqlConnector;
using Npgsql;
using TestDbKit;

namespace Orders;

/// <summary>
/// How the application connects to its database: where (the connection string from configuration) plus the
/// pool settings that keep pooled connections from going stale. The lessons behind the defaults:
/// <list type="bullet">
/// <item>A pooled connection must be closed by the client before the server (PostgreSQL
/// <c>idle_session_timeout</c>, MySQL <c>wait_timeout</c>) or a NAT/firewall drops it, or its next use fails.
/// So the pool's idle lifetime is short: 30 s unless the server allows less.</item>
/// <item>TCP keepalive finds connections a network device dropped silently.</item>
/// <item>Sessions are reset when they go back to the pool, so no state leaks into the next use.</item>
/// <item>Connect and command timeouts are finite, so a stalled network turns into an error the retry policy
/// can act on instead of a hang.</item>
/// </list>
/// </summary>
public sealed record OrderDatabaseSettings
{
    /// <summary>The engine the database runs on.</summary>
    public required DbEngine Engine { get; init; }

    /// <summary>Where the database is and who connects (host, port, database, user, password), as configured.
    /// Pool settings in it are overridden by the ones below.</summary>
    public required string ConnectionString { get; init; }

    /// <summary>How long a connection may sit idle in the pool. Keep it below the server's idle timeout and
    /// below any NAT or load balancer idle limit on the way. Default 30 s.</summary>
    public TimeSpan PoolIdleLifetime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often an idle connection sends a TCP keepalive probe. Default 15 s.</summary>
    public TimeSpan Keepalive { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How long opening a connection may take. Default 5 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How long one statement may take. Default 10 s.</summary>
    public TimeSpan CommandTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The connection string the application uses: <see cref="ConnectionString"/> with the pool
    /// settings applied.</summary>
    public string PooledConnectionString => Engine switch
    {
        DbEngine.PostgreSql => PostgreSql(),
        DbEngine.MySql => MySql(),
        _ => throw new NotSupportedException($"No connection settings for {Engine}."),
    };

    /// <summary>A new, unopened connection with <see cref="PooledConnectionString"/>. Open it, use it, dispose it:
    /// one per unit of work, never shared between threads.</summary>
    public DbConnection CreateConnection() => Engine == DbEngine.PostgreSql
        ? new NpgsqlConnection(PooledConnectionString)
        : new MySqlConnection(PooledConnectionString);

    /// <summary>Closes the idle pooled connections behind <paramref name="connection"/>: after one of them
    /// turned out dead, its idle siblings (same server, same age) most likely are too.</summary>
    public static void ClearPool(DbConnection connection)
    {
        switch (connection)
        {
            case NpgsqlConnection npgsql:
                NpgsqlConnection.ClearPool(npgsql);
                break;
            case MySqlConnection mysql:
                MySqlConnection.ClearPool(mysql);
                break;
        }
    }

    private string PostgreSql()
    {
        var idle = WholeSeconds(PoolIdleLifetime);
        return new NpgsqlConnectionStringBuilder(ConnectionString)
        {
            Pooling = true,
            MinPoolSize = 0, // connections kept at the minimum are never pruned, however long they idle
            ConnectionIdleLifetime = idle,
            // Npgsql prunes idle connections on this interval: a connection may idle up to lifetime + interval.
            ConnectionPruningInterval = Math.Max(1, Math.Min(10, idle / 3)),
            KeepAlive = WholeSeconds(Keepalive),
            NoResetOnClose = false,
            Timeout = WholeSeconds(ConnectTimeout),
            CommandTimeout = WholeSeconds(CommandTimeout),
        }.ConnectionString;
    }

    private string MySql() => new MySqlConnectionStringBuilder(ConnectionString)
    {
        Pooling = true,
        MinimumPoolSize = 0,
        ConnectionIdleTimeout = (uint)WholeSeconds(PoolIdleLifetime),
        Keepalive = (uint)WholeSeconds(Keepalive),
        ConnectionReset = true,
        ConnectionTimeout = (uint)WholeSeconds(ConnectTimeout),
        DefaultCommandTimeout = (uint)WholeSeconds(CommandTimeout),
    }.ConnectionString;

    private static int WholeSeconds(TimeSpan t) => Math.Max(1, (int)Math.Floor(t.TotalSeconds));
}
