using System.Data.Common;

namespace TestDbKit.Engines;

/// <summary>
/// Finds the tables a test wrote to and empties just those, so a reset costs what the test wrote and not
/// what the schema holds. Installed once per template; each engine keeps a set of dirty tables that its
/// triggers fill and a server-side routine that clears them in one round trip.
/// </summary>
internal abstract class ChangeTracker
{
    /// <summary>Installs the dirty-table set, the triggers on every user table, and the reset routine.</summary>
    public abstract Task InstallAsync(DbConnection connection, CancellationToken ct);

    /// <summary>
    /// Ends every session of this database that is running a statement or holding a transaction, then
    /// empties every dirty table (restarting its sequences when <paramref name="resetIds"/>). Returns how
    /// many tables were emptied.
    /// </summary>
    public abstract Task<int> ResetAsync(DbConnection connection, string database, bool resetIds, CancellationToken ct);

    protected static async Task<int> ScalarIntAsync(DbCommand command, CancellationToken ct) =>
        Convert.ToInt32(await command.ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
}
