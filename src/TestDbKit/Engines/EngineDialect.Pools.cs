using System.Data.Common;

namespace TestDbKit.Engines;

// EngineDialect, part: the driver's pools: clearing them, their settings, the server's idle timeouts they must respect.
internal abstract partial class EngineDialect
{
    /// <summary>The driver's pool settings in a connection string, under the driver's own names.</summary>
    public abstract ClientPoolSettings PoolSettingsOf(string connectionString);

    /// <summary>The server's idle timeouts as a session of <paramref name="connection"/> sees them (zero: none).</summary>
    public abstract Task<(TimeSpan Idle, TimeSpan IdleInTransaction)> ServerTimeoutsAsync(DbConnection connection, CancellationToken ct);

    /// <summary>Drops the idle pooled connections the driver keeps for one connection string.</summary>
    public void ClearPool(string connectionString)
    {
        using var connection = CreateConnection(connectionString);
        ClearPool(connection);
    }

    protected abstract void ClearPool(DbConnection connection);

    private static long _allPoolsCleared;

    /// <summary>How often any engine's pools were all cleared in this process. Sessions closed by such a clear are gone
    /// from the server without having died in a pool: what counts sessions (the pool's session check) must know.</summary>
    public static long AllPoolsCleared => Interlocked.Read(ref _allPoolsCleared);

    /// <summary>Drops every idle pooled connection the driver keeps for any connection string.</summary>
    public void ClearAllPools()
    {
        Interlocked.Increment(ref _allPoolsCleared);
        ClearDriverPools();
    }

    /// <summary>The driver's own clear of every pool.</summary>
    protected abstract void ClearDriverPools();
}
