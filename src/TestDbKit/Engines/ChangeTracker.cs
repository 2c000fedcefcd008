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
    /// many tables were emptied, or <see cref="SchemaChanged"/> (nothing emptied) when the test created, dropped
    /// or altered objects: only a fresh copy restores such a database exactly.
    /// </summary>
    public abstract Task<int> ResetAsync(DbConnection connection, string database, bool resetIds, CancellationToken ct);

    /// <summary>What <see cref="ResetAsync"/> returns when the schema changed since install.</summary>
    public const int SchemaChanged = -1;

    /// <summary>
    /// Makes the tracked database notice schema changes (<see cref="ResetAsync"/> then answers
    /// <see cref="SchemaChanged"/>), after <see cref="InstallAsync"/>. False when it cannot (PostgreSQL's event
    /// triggers need a superuser): the pool then compares <see cref="FingerprintSql"/> before each reset.
    /// </summary>
    public abstract Task<bool> WatchSchemaAsync(DbConnection connection, CancellationToken ct);

    /// <summary>
    /// One row, one text column that changes when objects of the user's schema in <paramref name="database"/> are
    /// created, dropped or altered (tables, columns, indexes, types, routines, triggers, views, schemas), leaving
    /// out temporary objects. Run on the kit's control connection of that database.
    /// </summary>
    public abstract string FingerprintSql(string database);

    /// <summary>One row, one boolean: whether <paramref name="database"/> exists and holds no object of the user's
    /// (temporary ones aside). Such a schema gets no tracking at all: nothing to empty, and nothing of the kit's that
    /// would make the database look built to an ORM that asks whether it has tables. Its reset asks this again.</summary>
    public abstract string IsEmptySql(string database);

    /// <summary>Whether <paramref name="error"/>, from a reset or a fingerprint, says the database or the kit's objects
    /// in it are gone: the test dropped (and maybe recreated) the database, or dropped the kit's schema.</summary>
    public abstract bool IsSchemaGone(DbException error);

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
