using System.Collections.Concurrent;
using System.Data.Common;
using Microsoft.Extensions.Logging;
using TestDbKit.Diagnostics;
using TestDbKit.Engines;

namespace TestDbKit.Databases;

/// <summary>
/// How a test run shows the other runs on a server it does not own (External, or a <c>testdbkit serve</c> server
/// that many CI jobs share) that it is alive: it holds a mark on the server (a session of its own; see
/// <see cref="EngineDialect.RunMarkName"/>) for as long as its process lives, and takes it again within
/// <see cref="RenewEvery"/> when a restart or a network fault ended that session. Another run's <see cref="Janitor"/>
/// drops the databases of a run whose mark nobody holds, however young they are, and never those of a live run,
/// however old: a run's age says nothing about whether it still runs. Since a live run's mark may be missing for a
/// moment (its session lost, not yet taken again), a run counts as dead only when its mark is missing twice,
/// <see cref="ConfirmAfter"/> apart, on a server that has been up at least that long.
/// </summary>
internal static class RunLiveness
{
    /// <summary>How often the mark's session is checked, and taken again when lost.</summary>
    public static readonly TimeSpan RenewEvery = TimeSpan.FromSeconds(2);

    /// <summary>How long a live run may be without its mark: a check that finds the session gone, one more period
    /// if the server was not back yet, and the new session's connect timeout.</summary>
    public static readonly TimeSpan ConfirmAfter = RenewEvery * 2 + EngineDialect.RunMarkConnectTimeout;

    private static readonly ConcurrentDictionary<string, Lazy<Task>> Held = new(StringComparer.Ordinal);

    /// <summary>Takes this run's mark on <paramref name="server"/>, once per server in the process, and keeps it
    /// until the process ends (the server then ends the session, and the mark with it).</summary>
    /// <exception cref="InvalidOperationException">The mark could not be taken; the message says why.</exception>
    public static async Task HoldAsync(DbServer server, ILogger logger, CancellationToken ct)
    {
        // One mark per server, however many connection strings reach it (MySQL's named lock is the run's, not the string's).
        var key = server.Dialect.EndpointOf(server.AdminConnectionString) ?? server.AdminConnectionString;
        var mark = Held.GetOrAdd(key, _ => new Lazy<Task>(() => TakeAsync(server, logger)));
        try
        {
            await mark.Value.WaitAsync(ct).ConfigureAwait(false);
        }
        catch (Exception) when (mark.Value.IsFaulted)
        {
            Held.TryRemove(new KeyValuePair<string, Lazy<Task>>(key, mark)); // the next pool tries again
            throw;
        }
    }

    /// <summary>Whether run <paramref name="runId"/> holds its mark on the server <paramref name="admin"/> is
    /// connected to.</summary>
    public static async Task<bool> IsAliveAsync(DbConnection admin, EngineDialect dialect, string runId, CancellationToken ct) =>
        Convert.ToInt64(await admin.ScalarAsync(dialect.RunMarkHeldSql(runId), ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture) > 0;

    /// <summary>How long the server <paramref name="admin"/> is connected to has been up.</summary>
    public static async Task<TimeSpan> ServerUptimeAsync(DbConnection admin, EngineDialect dialect, CancellationToken ct)
    {
        var seconds = await admin.ReadColumnAsync(dialect.ServerUptimeSql, r => Convert.ToDouble(r.GetValue(r.FieldCount - 1), System.Globalization.CultureInfo.InvariantCulture), ct).ConfigureAwait(false);
        return seconds.Count == 1 ? TimeSpan.FromSeconds(seconds[0]) : throw new InvalidOperationException($"The server gave {seconds.Count} rows for its uptime ({dialect.ServerUptimeSql}).");
    }

    private static async Task TakeAsync(DbServer server, ILogger logger)
    {
        var dialect = server.Dialect;
        var cs = dialect.RunMarkConnectionString(server.AdminConnectionString, DatabaseNames.RunId);
        DbConnection session;
        try
        {
            session = await OpenMarkAsync(dialect, cs, DatabaseNames.RunId).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DbException or IOException or TimeoutException or InvalidOperationException)
        {
            throw new InvalidOperationException(
                $"Could not take this test run's mark ({EngineDialect.RunMarkName(DatabaseNames.RunId)}) on {server}: {Secrets.Redact(e.Message, dialect.PasswordOfOrNull(server.AdminConnectionString))}. " +
                "Runs that share a server hold one, so that their janitors never drop a live run's databases. Check that the server " +
                "takes one more connection from the administrator's connection string (max_connections).", e);
        }

        Log.RunMarkTaken(logger, EngineDialect.RunMarkName(DatabaseNames.RunId), server.ToString());
        Janitor.DropThisRunsAtExit(server);
        _ = Task.Run(() => KeepAsync(dialect, cs, session, server.ToString(), logger));
    }

    /// <summary>Opens a session that holds run <paramref name="runId"/>'s mark (<paramref name="cs"/> from
    /// <see cref="EngineDialect.RunMarkConnectionString"/>); disposing it gives the mark up.</summary>
    internal static async Task<DbConnection> OpenMarkAsync(EngineDialect dialect, string cs, string runId)
    {
        var session = await dialect.OpenAsync(cs, CancellationToken.None).ConfigureAwait(false);
        try
        {
            if (dialect.TakeRunMarkSql(runId) is { } take
                && Convert.ToInt64(await session.ScalarAsync(take, CancellationToken.None).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture) != 1)
            {
                throw new InvalidOperationException("another session holds the mark");
            }

            return session;
        }
        catch
        {
            await session.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Checks the mark's session every <see cref="RenewEvery"/>, and takes the mark again when the session
    /// is gone, for as long as the process lives. Nothing may end this loop early: a run without its mark looks dead
    /// to other runs.</summary>
    private static async Task KeepAsync(EngineDialect dialect, string cs, DbConnection? session, string server, ILogger logger)
    {
        using var timer = new PeriodicTimer(RenewEvery);
        var warned = false;
        while (await timer.WaitForNextTickAsync().ConfigureAwait(false))
        {
            try
            {
                if (session is not null)
                {
                    try
                    {
                        await session.ScalarAsync("SELECT 1", CancellationToken.None).ConfigureAwait(false);
                        continue;
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        // The session ended (a restart, a network fault, a kill): take the mark again below.
                        var lost = session;
                        session = null;
                        await DisposeQuietlyAsync(lost).ConfigureAwait(false);
                    }
                }

                session = await OpenMarkAsync(dialect, cs, DatabaseNames.RunId).ConfigureAwait(false);
                warned = false;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                if (!warned)
                {
                    Log.RunMarkLost(logger, server, Secrets.Redact(e.Message, dialect.PasswordOfOrNull(cs)), (int)RenewEvery.TotalSeconds);
                    warned = true;
                }
            }
        }
    }

    private static async Task DisposeQuietlyAsync(DbConnection session)
    {
        try
        {
            await session.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A broken session may fail to close; it is gone either way.
        }
    }
}
