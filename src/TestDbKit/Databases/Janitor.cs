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

    public static Task<int> SweepOnceAsync(DbServer server, TimeSpan olderThan, ILogger logger) =>
        Swept.GetOrAdd(server.AdminConnectionString, _ => SweepQuietlyAsync(server, olderThan, logger));

    /// <summary>Lets the next pool on <paramref name="server"/> sweep again, as a new run's would (the benchmark).</summary>
    internal static void Forget(DbServer server) => Swept.TryRemove(server.AdminConnectionString, out _);

    /// <summary>A failed sweep must not stop anyone from creating databases: it is logged, not thrown.</summary>
    private static async Task<int> SweepQuietlyAsync(DbServer server, TimeSpan olderThan, ILogger logger)
    {
        try
        {
            return await SweepAsync(server, olderThan, logger, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or IOException or TimeoutException)
        {
            Log.DropFailed(logger, "(janitor sweep)", e.Message);
            return 0;
        }
    }

    /// <summary>Drops every database named by the kit of another run that is over: on a server this run does not
    /// own (others' runs share it), of a run that holds no mark (<see cref="RunLiveness"/>), however young; on a
    /// kept server, of a run no longer alive, kept templates excepted; on a server of this run's own, created more
    /// than <paramref name="olderThan"/> ago (and on any server where the marks cannot be read). Returns how many it
    /// dropped.</summary>
    public static async Task<int> SweepAsync(DbServer server, TimeSpan olderThan, ILogger logger, CancellationToken ct)
    {
        var dialect = server.Dialect;
        var now = DateTime.UtcNow;
        var kept = OperatingSystem.IsWindows() ? null : server.Instance.Kept;
        var templates = OperatingSystem.IsWindows() || kept is null ? [] : kept.Templates().Select(t => t.Template.Name).ToHashSet(StringComparer.Ordinal);
        var stale = new List<(string Name, string RunId, DateTime Created, bool Dead)>();
        var alive = new Dictionary<string, bool?>(StringComparer.Ordinal);
        await using var admin = await server.OpenAdminConnectionAsync(ct).ConfigureAwait(false);
        foreach (var name in await admin.ReadColumnAsync(dialect.ListDatabasesSql(DatabaseNames.Prefix), r => r.GetString(0), ct).ConfigureAwait(false))
        {
            if (!DatabaseNames.TryParse(name, out var created, out var runId) || runId == DatabaseNames.RunId)
            {
                continue;
            }

            if (!OperatingSystem.IsWindows() && kept is not null)
            {
                if (!kept.IsLiveRun(runId) && !templates.Contains(name))
                {
                    stale.Add((name, runId, created, true));
                }

                continue;
            }

            if (!server.IsOwned && !alive.ContainsKey(runId))
            {
                alive[runId] = await IsAliveAsync(admin, dialect, runId, olderThan, logger, ct).ConfigureAwait(false);
            }

            var live = server.IsOwned ? null : alive[runId];
            if (live == false || (live is null && now - created > olderThan))
            {
                stale.Add((name, runId, created, live == false));
            }
        }

        foreach (var (name, runId, created, dead) in stale)
        {
            try
            {
                if (kept is not null)
                {
                    // The run is over, but the server may not have seen all its sessions go yet (a MySQL session of a
                    // killed process holds its metadata locks until then, and the DROP would wait on them).
                    await dialect.EndSessionsAsync(admin, name, Engines.SessionFilter.All, ct).ConfigureAwait(false);
                }

                await admin.ExecuteAsync(dialect.DropDatabaseSql(name), ct).ConfigureAwait(false);
                if (kept is not null)
                {
                    Log.ReuseDroppedOldRun(logger, name, runId);
                }
                else if (dead)
                {
                    Log.JanitorDroppedDeadRun(logger, name, runId);
                }
                else
                {
                    Log.JanitorDropped(logger, name, runId, created);
                }
            }
            catch (DbException e)
            {
                Log.DropFailed(logger, name, e.Message);
            }
        }

        // Settings rows of databases gone (dropped above, or by a user's own code); only where the kit keeps them.
        if (server.HasTestUser && dialect.ForgetStaleDatabaseSettingsSql is { } forget)
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

        return stale.Count;
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
