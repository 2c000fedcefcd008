using System.Data.Common;
using Npgsql;

namespace TestDbKit.Engines;

// PostgreSqlDialect, part: the driver's pools: clearing them, their settings, the server's idle timeouts they must respect.
internal sealed partial class PostgreSqlDialect
{
    protected override void ClearPool(DbConnection connection) => NpgsqlConnection.ClearPool((NpgsqlConnection)connection);

    public override ClientPoolSettings PoolSettingsOf(string connectionString)
    {
        var b = Builder(connectionString);
        return new ClientPoolSettings(b.Pooling, TimeSpan.FromSeconds(b.ConnectionIdleLifetime), "Connection Idle Lifetime",
            TimeSpan.FromSeconds(b.ConnectionLifetime), TimeSpan.FromSeconds(b.KeepAlive), "Keepalive", !b.NoResetOnClose, "No Reset On Close=false");
    }

    public override async Task<(TimeSpan Idle, TimeSpan IdleInTransaction)> ServerTimeoutsAsync(DbConnection connection, CancellationToken ct)
    {
        // Reported in milliseconds whatever unit they were set in.
        var idle = Convert.ToInt64(await connection.ScalarAsync("SELECT setting::bigint FROM pg_settings WHERE name = 'idle_session_timeout'", ct).ConfigureAwait(false) ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
        var inTx = Convert.ToInt64(await connection.ScalarAsync("SELECT setting::bigint FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout'", ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        return (TimeSpan.FromMilliseconds(idle), TimeSpan.FromMilliseconds(inTx));
    }

    protected override void ClearDriverPools() => NpgsqlConnection.ClearAllPools();
}
