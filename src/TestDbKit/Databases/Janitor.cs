using System.Collections.Concurrent;
using System.Data.Common;
using Microsoft.Extensions.Logging;
using TestDbKit.Diagnostics;
using TestDbKit.Engines;

namespace TestDbKit.Databases;

/// <summary>Drops the kit's databases that crashed runs left on a server, once per server per process. On a server kept
/// between runs (<see cref="DbServerOptions.Reuse"/>) it drops every database of a run that is over, whatever its age
/// (data never carries over to a later run), and keeps only the kept templates.</summary>
internal static class Janitor
{
    private static readonly ConcurrentDictionary<string, Task<int>> Swept = new();

    /// <summary>Sweeps <paramref name="server"/> once per process. The task ends with the first pass; databases of runs
    /// whose mark is missing are dropped in the background once it is still missing <see cref="RunLiveness.ConfirmAfter"/>
    /// later, so a pool never waits for that.</summary>
    public static Task<int> SweepOnceAsync(DbServer server, TimeSpan olderThan, ILogger logger) =>
        Swept.GetOrAdd(server.AdminConnectionString, _ => SweepQuietlyAsync(server, olderThan, logger));

    private static readonly ConcurrentDictionary<string, DbServer> DropAtExit = new(StringComparer.Ordinal);
    private static int _exitHooked;

    /// <summary>At the process's normal end, drops this run's databases on <paramref name="server"/>, a server it
    /// shares with other runs: nobody else would until the next run's janitor, and a shared server may see none for
    /// long. Best effort: a killed run, or a test host stopped before it is done (VSTest gives its host 100 ms unless
    /// <c>VSTEST_TESTHOST_SHUTDOWN_TIMEOUT</c> says more), leaves them to that janitor.</summary>
    public static void DropThisRunsAtExit(DbServer server)
    {
        DropAtExit.TryAdd(server.AdminConnectionString, server);
        if (Interlocked.Exchange(ref _exitHooked, 1) == 0)
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                // The host is ending: a few seconds at most (timed here, not by a timer the thread pool must run), and
                // nothing thrown from here.
                using var budget = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                try
                {
                    Task.WhenAll(DropAtExit.Values.Select(s => DropThisRunsAsync(s, budget.Token))).Wait(TimeSpan.FromSeconds(5));
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    // Left to the next run's janitor.
                }
            };
        }
    }

    /// <summary>Drops every database of this run on <paramref name="server"/>, ending its sessions first.</summary>
    internal static async Task<int> DropThisRunsAsync(DbServer server, CancellationToken ct)
    {
        var dialect = server.Dialect;
        await using var admin = await server.OpenAdminConnectionAsync(ct).ConfigureAwait(false);
        var dropped = 0;
        foreach (var (name, _, runId, _) in await KitDatabasesAsync(admin, dialect, ct).ConfigureAwait(false))
        {
            if (runId == DatabaseNames.RunId
                && await DropAsync(admin, dialect, name, endSessions: true, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, ct).ConfigureAwait(false))
            {
                dropped++;
            }
        }

        return dropped;
    }

    /// <summary>Lets the next pool on <paramref name="server"/> sweep again, as a new run's would (the benchmark).</summary>
    internal static void Forget(DbServer server) => Swept.TryRemove(server.AdminConnectionString, out _);

    /// <summary>A failed sweep must not stop anyone from creating databases: it is logged, not thrown.</summary>
    private static async Task<int> SweepQuietlyAsync(DbServer server, TimeSpan olderThan, ILogger logger)
    {
        try
        {
            var (dropped, suspects) = await FirstPassAsync(server, olderThan, logger, CancellationToken.None).ConfigureAwait(false);
            if (suspects.Count > 0)
            {
                _ = Task.Run(() => ConfirmQuietlyAsync(server, suspects, logger));
            }

            return dropped;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Log.DropFailed(logger, "(janitor sweep)", e.Message);
            return 0;
        }
    }

    private static async Task ConfirmQuietlyAsync(DbServer server, IReadOnlyList<Stale> suspects, ILogger logger)
    {
        try
        {
            await Task.Delay(RunLiveness.ConfirmAfter).ConfigureAwait(false); // the grace a live run has to take its mark again
            await ConfirmDeadAsync(server, suspects, logger, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Log.DropFailed(logger, "(janitor sweep of dead runs)", e.Message);
        }
    }

    /// <summary>Drops every database named by the kit of another run that is over, and returns how many: on a kept
    /// server, of a run no longer alive, kept templates excepted; on a server this run does not own (others' runs
    /// share it), of a run that holds no mark (<see cref="RunLiveness"/>) now and still none
    /// <see cref="RunLiveness.ConfirmAfter"/> later, however young (this waits that long when there are such); on a
    /// server of this run's own, created more than <paramref name="olderThan"/> ago (and so for runs of kit versions
    /// that hold no mark, and on any server where the marks cannot be read).</summary>
    public static async Task<int> SweepAsync(DbServer server, TimeSpan olderThan, ILogger logger, CancellationToken ct)
    {
        var (dropped, suspects) = await FirstPassAsync(server, olderThan, logger, ct).ConfigureAwait(false);
        if (suspects.Count > 0)
        {
            await Task.Delay(RunLiveness.ConfirmAfter, ct).ConfigureAwait(false);
            dropped += await ConfirmDeadAsync(server, suspects, logger, ct).ConfigureAwait(false);
        }

        return dropped;
    }

    private sealed record Stale(string Name, string RunId, DateTime Created);

    /// <summary>Drops what is stale now; returns that count and the databases of runs whose mark is missing.</summary>
    private static async Task<(int Dropped, List<Stale> Suspects)> FirstPassAsync(DbServer server, TimeSpan olderThan, ILogger logger, CancellationToken ct)
    {
        var dialect = server.Dialect;
        var now = DateTime.UtcNow;
        var kept = OperatingSystem.IsWindows() ? null : server.Instance.Kept;
        var templates = OperatingSystem.IsWindows() || kept is null ? [] : kept.Templates().Select(t => t.Template.Name).ToHashSet(StringComparer.Ordinal);
        var stale = new List<Stale>();
        var suspects = new List<Stale>();
        var alive = new Dictionary<string, bool?>(StringComparer.Ordinal);
        await using var admin = await server.OpenAdminConnectionAsync(ct).ConfigureAwait(false);
        foreach (var (name, created, runId, marked) in await KitDatabasesAsync(admin, dialect, ct).ConfigureAwait(false))
        {
            if (runId == DatabaseNames.RunId)
            {
                continue;
            }

            if (!OperatingSystem.IsWindows() && kept is not null)
            {
                if (!kept.IsLiveRun(runId) && !templates.Contains(name))
                {
                    stale.Add(new(name, runId, created));
                }

                continue;
            }

            if (!server.IsOwned && marked && !alive.ContainsKey(runId))
            {
                alive[runId] = await IsAliveAsync(admin, dialect, runId, olderThan, logger, ct).ConfigureAwait(false);
            }

            var live = server.IsOwned || !marked ? null : alive[runId];
            if (live == false)
            {
                if (suspects.All(s => s.RunId != runId))
                {
                    Log.RunMarkMissing(logger, runId, server.ToString(), RunLiveness.ConfirmAfter);
                }

                suspects.Add(new(name, runId, created));
            }
            else if (live is null && now - created > olderThan)
            {
                stale.Add(new(name, runId, created));
            }
        }

        var dropped = 0;
        foreach (var (name, runId, created) in stale)
        {
            // A run that is over may still have sessions the server has not seen go (a MySQL session of a killed
            // process holds its metadata locks until then, and the DROP would wait on them).
            if (await DropAsync(admin, dialect, name, endSessions: kept is not null, logger, ct).ConfigureAwait(false))
            {
                dropped++;
                if (kept is not null)
                {
                    Log.ReuseDroppedOldRun(logger, name, runId);
                }
                else
                {
                    Log.JanitorDropped(logger, name, runId, created);
                }
            }
        }

        // Settings rows of databases gone (dropped above, or by a user's own code); only where the kit keeps them.
        await ForgetSettingsOfDroppedAsync(server, admin, logger, ct).ConfigureAwait(false);
        return (dropped, suspects);
    }

    /// <summary>Drops the databases of <paramref name="suspects"/>' runs that still hold no mark, unless the server
    /// has been up for less than <see cref="RunLiveness.ConfirmAfter"/> (it restarted meanwhile: every run lost its mark
    /// then, and needs up to that long to take it again).</summary>
    private static async Task<int> ConfirmDeadAsync(DbServer server, IReadOnlyList<Stale> suspects, ILogger logger, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await SecondLookAsync(server, suspects, logger, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (attempt < 3 && DbErrors.IsConnectionLost(e))
            {
                // A restart since the first look ended the pooled administrator's sessions: new ones answer.
                server.Dialect.ClearPool(server.AdminConnectionString);
            }
        }
    }

    private static async Task<int> SecondLookAsync(DbServer server, IReadOnlyList<Stale> suspects, ILogger logger, CancellationToken ct)
    {
        var dialect = server.Dialect;
        await using var admin = await server.OpenAdminConnectionAsync(ct).ConfigureAwait(false);
        var uptime = await RunLiveness.ServerUptimeAsync(admin, dialect, ct).ConfigureAwait(false);
        Log.RunMarksSecondLook(logger, suspects.Select(s => s.RunId).Distinct(StringComparer.Ordinal).Count(), server.ToString(), uptime);
        if (uptime < RunLiveness.ConfirmAfter - TimeSpan.FromSeconds(1)) // MySQL counts whole seconds
        {
            Log.RunMarksUnsure(logger, server.ToString(), uptime, suspects.Count);
            return 0;
        }

        var dropped = 0;
        foreach (var run in suspects.GroupBy(s => s.RunId, StringComparer.Ordinal))
        {
            if (await RunLiveness.IsAliveAsync(admin, dialect, run.Key, ct).ConfigureAwait(false))
            {
                continue; // it had lost its mark for a moment
            }

            foreach (var database in run)
            {
                // Its process is gone; sessions the server has not seen go yet would block the DROP.
                if (await DropAsync(admin, dialect, database.Name, endSessions: true, logger, ct).ConfigureAwait(false))
                {
                    dropped++;
                    Log.JanitorDroppedDeadRun(logger, database.Name, database.RunId);
                }
            }
        }

        if (dropped > 0)
        {
            await ForgetSettingsOfDroppedAsync(server, admin, logger, ct).ConfigureAwait(false);
        }

        return dropped;
    }

    /// <summary>The databases on the server named as the kit names them, with what their names say.</summary>
    private static async Task<List<(string Name, DateTime Created, string RunId, bool Marked)>> KitDatabasesAsync(DbConnection admin, Engines.EngineDialect dialect, CancellationToken ct)
    {
        var found = new List<(string, DateTime, string, bool)>();
        foreach (var name in await admin.ReadColumnAsync(dialect.ListDatabasesSql(DatabaseNames.Prefix), r => r.GetString(0), ct).ConfigureAwait(false))
        {
            if (DatabaseNames.TryParse(name, out var created, out var runId, out var marked))
            {
                found.Add((name, created, runId, marked));
            }
        }

        return found;
    }

    private static async Task<bool> DropAsync(DbConnection admin, Engines.EngineDialect dialect, string name, bool endSessions, ILogger logger, CancellationToken ct)
    {
        try
        {
            if (endSessions)
            {
                await dialect.EndSessionsAsync(admin, name, Engines.SessionFilter.All, ct).ConfigureAwait(false);
            }

            await admin.ExecuteAsync(dialect.DropDatabaseSql(name), ct).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is DbException or ArgumentException)
        {
            Log.DropFailed(logger, name, e.Message);
            return false;
        }
    }

    private static async Task ForgetSettingsOfDroppedAsync(DbServer server, DbConnection admin, ILogger logger, CancellationToken ct)
    {
        if (server.HasTestUser && server.Dialect.ForgetStaleDatabaseSettingsSql is { } forget)
        {
            try
            {
                await admin.ExecuteAsync(forget, ct).ConfigureAwait(false);
            }
            catch (DbException e)
            {
                Log.DropFailed(logger, "(session settings of dropped databases)", e.Message);
            }
        }
    }

    /// <summary>Whether the run holds its mark; null when the server would not say (the age rule decides then).</summary>
    private static async Task<bool?> IsAliveAsync(DbConnection admin, Engines.EngineDialect dialect, string runId, TimeSpan olderThan, ILogger logger, CancellationToken ct)
    {
        try
        {
            return await RunLiveness.IsAliveAsync(admin, dialect, runId, ct).ConfigureAwait(false);
        }
        catch (DbException e)
        {
            Log.RunMarksUnknown(logger, e.Message, olderThan);
            return null;
        }
    }
}
