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

    /// <summary>Drops every database named by the kit, of another run, created more than
    /// <paramref name="olderThan"/> ago (on a kept server: of a run no longer alive, kept templates excepted). Returns
    /// how many it dropped.</summary>
    public static async Task<int> SweepAsync(DbServer server, TimeSpan olderThan, ILogger logger, CancellationToken ct)
    {
        var dialect = server.Dialect;
        var now = DateTime.UtcNow;
        var kept = OperatingSystem.IsWindows() ? null : server.Instance.Kept;
        var templates = OperatingSystem.IsWindows() || kept is null ? [] : kept.Templates().Select(t => t.Template.Name).ToHashSet(StringComparer.Ordinal);
        var stale = new List<(string Name, string RunId, DateTime Created)>();
        await using var admin = await server.OpenAdminConnectionAsync(ct).ConfigureAwait(false);
        foreach (var name in await admin.ReadColumnAsync(dialect.ListDatabasesSql(DatabaseNames.Prefix), r => r.GetString(0), ct).ConfigureAwait(false))
        {
            if (DatabaseNames.TryParse(name, out var created, out var runId) && runId != DatabaseNames.RunId
                && (OperatingSystem.IsWindows() || kept is null ? now - created > olderThan : !kept.IsLiveRun(runId) && !templates.Contains(name)))
            {
                stale.Add((name, runId, created));
            }
        }

        foreach (var (name, runId, created) in stale)
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
                if (kept is null)
                {
                    Log.JanitorDropped(logger, name, runId, created);
                }
                else
                {
                    Log.ReuseDroppedOldRun(logger, name, runId);
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
}
