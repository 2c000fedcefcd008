using System.Data.Common;
using System.Globalization;
using Microsoft.Extensions.Logging;
using TestDbKit.Diagnostics;
using TestDbKit.Engines;

namespace TestDbKit;

// DatabasePool, part: what the kit keeps in a database to reset it, and what happens when a test changed the schema.
// A schema without objects gets no tracking at all (an ORM asking whether the database has tables must hear no);
// its reset only checks that the database is still as empty. A tracked database notices a test's DDL (PostgreSQL:
// event triggers; MySQL: a fingerprint of information_schema in the reset procedure; PostgreSQL without a
// superuser: the pool compares a catalog fingerprint), and a database the test dropped or recreated is noticed by
// the errors the reset meets. Either way the database is replaced by a fresh copy, quietly: it is an expected path.
public sealed partial class DatabasePool
{
    // The fingerprint of the schema as the hook left it, where the pool compares it itself: a tracked database whose
    // tracker cannot watch DDL (PostgreSQL without a superuser). Null: the tracker watches, or the schema is empty.
    private string? _fingerprint;

    /// <summary>Whether the user's schema has no objects at all, so databases carry nothing of the kit's.</summary>
    internal bool EmptySchema { get; private set; }

    /// <summary>After the schema ran on <paramref name="connection"/> (a new database, or the template): installs the
    /// change tracker where the schema made any object, else nothing. Throws a <see cref="DbException"/> where tracking
    /// cannot be installed (the caller falls back to Respawn).</summary>
    private async Task InstallTrackingAsync(DbConnection connection, string name, CancellationToken ct)
    {
        var tracker = Dialect.Tracker;
        if (await ScalarBoolAsync(connection, tracker.IsEmptySql(name), ct).ConfigureAwait(false))
        {
            _fingerprint = null;
            EmptySchema = true;
            IsTracking = true;
            return;
        }

        Marks = await tracker.InstallAsync(connection, _options.TrackWithTriggers, ct).ConfigureAwait(false);
        _fingerprint = await tracker.WatchSchemaAsync(connection, ct).ConfigureAwait(false)
            ? null
            : await FingerprintAsync(connection, name, ct).ConfigureAwait(false);
        EmptySchema = false;
        IsTracking = true;
    }

    /// <summary>The tracked reset (see <see cref="ChangeTracker.ResetAsync"/>), or for a schema without tables the check
    /// that the database is still empty. Throws <see cref="SchemaChangedException"/> when only a fresh copy restores it.</summary>
    private async Task ResetTrackedAsync(PooledDatabase database, CancellationToken ct)
    {
        var tracker = Dialect.Tracker;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await using var connection = await OpenAsync(database.ControlConnectionString, ct).ConfigureAwait(false);
                if (EmptySchema)
                {
                    if (!await ScalarBoolAsync(connection, tracker.IsEmptySql(database.Name), ct).ConfigureAwait(false))
                    {
                        throw new SchemaChangedException(database.Name,
                            "the schema had no objects, and now it has some (EnsureCreated, a migration or the test's own DDL), or the database is gone");
                    }

                    return; // no tables, no rows
                }

                if (_fingerprint is { } expected
                    && !string.Equals(await FingerprintAsync(connection, database.Name, ct).ConfigureAwait(false), expected, StringComparison.Ordinal))
                {
                    throw new SchemaChangedException(database.Name, "the test created, dropped or altered objects");
                }

                if (await tracker.ResetAsync(connection, database.Name, _options.ResetSequences, ct).ConfigureAwait(false) == ChangeTracker.SchemaChanged)
                {
                    throw new SchemaChangedException(database.Name, "the test created, dropped or altered objects");
                }

                return;
            }
            catch (DbException e) when (tracker.IsSchemaGone(e))
            {
                throw new SchemaChangedException(database.Name, "the test dropped the database (and maybe made it again), or the kit's objects in it", e);
            }
            catch (Exception e) when (attempt == 0 && e is DbException or IOException or System.Net.Sockets.SocketException && DbErrors.IsConnectionLostUncounted(e))
            {
                // A test's DROP DATABASE .. WITH (FORCE) (EF's EnsureDeleted) ends the kit's pooled control session on
                // the database too: once more on a new session, which then meets the database as the test left it.
                Dialect.ClearPool(database.ControlConnectionString);
            }
        }
    }

    private async Task<string> FingerprintAsync(DbConnection connection, string name, CancellationToken ct) =>
        Convert.ToString(await PreparedScalarAsync(connection, Dialect.Tracker.FingerprintSql(name), ct).ConfigureAwait(false), CultureInfo.InvariantCulture) ?? "";

    private async Task<bool> ScalarBoolAsync(DbConnection connection, string sql, CancellationToken ct) =>
        Convert.ToBoolean(await PreparedScalarAsync(connection, sql, ct).ConfigureAwait(false), CultureInfo.InvariantCulture);

    /// <summary>Prepared where the engine's control session belongs to one database (PostgreSQL): it is pooled and
    /// keeps the statement, so the catalog queries are planned once per session rather than at every reset
    /// (planning cost more than running them). Not on MySQL: its control sessions serve every database and the SQL
    /// names the database, so each database would leave a prepared statement behind on the server
    /// (<c>max_prepared_stmt_count</c> is server-wide).</summary>
    private async Task<object?> PreparedScalarAsync(DbConnection connection, string sql, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        if (Dialect.HasTemplateDatabases)
        {
            await command.PrepareAsync(ct).ConfigureAwait(false);
        }

        return await command.ExecuteScalarAsync(ct).ConfigureAwait(false);
    }

    [LoggerMessage(42, LogLevel.Debug, "{Database} is replaced by a fresh copy: {Reason}")]
    private static partial void LogSchemaChanged(ILogger logger, string database, string reason);
}

/// <summary>A database's schema changed under the kit (the test created, dropped or altered objects, or dropped or
/// recreated the database): resetting rows cannot restore it; the pool replaces it with a fresh copy.</summary>
internal sealed class SchemaChangedException(string database, string reason, Exception? inner = null)
    : InvalidOperationException(
        $"Database {database} cannot be reset in place: {reason}. A reset empties tables; a changed schema needs a fresh " +
        "copy, which the kit makes when the lease is given back (make schema changes at the end of a test, or not in " +
        "tests that reset in the middle).", inner)
{
    public string Database { get; } = database;

    public string Reason { get; } = reason;
}
