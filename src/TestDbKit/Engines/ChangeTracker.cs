using System.Data.Common;

namespace TestDbKit.Engines;

/// <summary>
/// Finds the tables a test wrote to and empties just those, so a reset costs what the test wrote and not
/// what the schema holds. Installed once per template; each engine keeps a set of dirty tables that its
/// triggers fill and a server-side routine that clears them in one round trip.
/// </summary>
internal abstract class ChangeTracker
{
    /// <summary>
    /// Installs the dirty-table set, what fills it, and the reset routine. Uses the server's own row counts
    /// where it keeps them, unless <paramref name="triggersOnly"/>; returns which marks were installed.
    /// </summary>
    public abstract Task<ChangeMarks> InstallAsync(DbConnection connection, bool triggersOnly, CancellationToken ct);

    /// <summary>
    /// Ends every session of this database that is running a statement or holding a transaction, then
    /// empties every dirty table (restarting its sequences when <paramref name="resetIds"/>). Returns how
    /// many tables were emptied.
    /// </summary>
    public abstract Task<int> ResetAsync(DbConnection connection, string database, bool resetIds, CancellationToken ct);

    protected static async Task<int> ScalarIntAsync(DbCommand command, CancellationToken ct) =>
        Convert.ToInt32(await command.ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>How a tracked database learns which tables a test wrote to.</summary>
internal enum ChangeMarks
{
    /// <summary>Triggers on every table record it when written (PostgreSQL: per statement; MySQL: per row).</summary>
    Triggers,

    /// <summary>The server's own per-table counts of changed rows (MariaDB <c>userstat</c>): writes pay nothing.</summary>
    RowCounters,
}
