using System.Data.Common;
using MySqlConnector;

namespace TestDbKit.Engines;

// MySqlDialect, part: the driver's pools: clearing them, their settings, the server's idle timeouts they must respect.
internal sealed partial class MySqlDialect
{
    protected override void ClearPool(DbConnection connection) => MySqlConnection.ClearPool((MySqlConnection)connection);

    public override ClientPoolSettings PoolSettingsOf(string connectionString)
    {
        var b = Builder(connectionString);
        return new ClientPoolSettings(b.Pooling, TimeSpan.FromSeconds(b.ConnectionIdleTimeout), "ConnectionIdleTimeout",
            TimeSpan.FromSeconds(b.ConnectionLifeTime), TimeSpan.FromSeconds(b.Keepalive), "Keepalive", b.ConnectionReset, "ConnectionReset=true");
    }

    public override async Task<(TimeSpan Idle, TimeSpan IdleInTransaction)> ServerTimeoutsAsync(DbConnection connection, CancellationToken ct)
    {
        // The session's value is what the server applies to this client (MySqlConnector is not "interactive").
        var idle = Convert.ToInt64(await connection.ScalarAsync("SELECT @@SESSION.wait_timeout", ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        return (TimeSpan.FromSeconds(idle), TimeSpan.Zero);
    }

    protected override void ClearDriverPools() => MySqlConnection.ClearAllPools();
}
