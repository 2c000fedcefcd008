using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using TestDbKit.Databases;
using TestDbKit.Engines;

namespace TestDbKit.Cli;

/// <summary>
/// Session-level faults for <c>testdbkit chaos</c>, through SQL on the administrator's connection. They touch
/// only the kit's databases (named <c>tdk_…</c>) and never the kit's control sessions: the dialect's session
/// list leaves those out, as it does for FaultInjector.
/// </summary>
internal sealed class SessionFaults(EngineDialect dialect, string adminConnectionString, bool serverIsOwned)
{
    /// <summary>The idle timeout sessions opened during an idle fault get: short enough that a pooled
    /// connection idle between two tests dies.</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(1);

    private readonly string _admin = dialect.ForProbe(adminConnectionString, TimeSpan.FromSeconds(5));

    /// <summary>Ends every client session on the kit's databases; returns how many.</summary>
    public async Task<int> KillSessionsAsync(CancellationToken ct)
    {
        await using var admin = await dialect.OpenAsync(_admin, ct).ConfigureAwait(false);
        var killed = 0;
        foreach (var database in await KitDatabasesAsync(admin, ct).ConfigureAwait(false))
        {
            killed += await dialect.EndSessionsAsync(admin, database, SessionFilter.All, ct).ConfigureAwait(false);
        }

        return killed;
    }

    /// <summary>Whether this server allows the idle fault: per database on PostgreSQL; server-wide on MySQL,
    /// so only on a server the kit owns.</summary>
    public string? WhyNoIdleFault() =>
        dialect.DatabaseTimeoutSql(DatabaseNames.Prefix + "x", TimeoutKind.Idle, IdleTimeout) is null && !serverIsOwned
            ? $"{dialect.Name}'s idle timeout (wait_timeout) is global to the server: on a server the kit does not own it would touch sessions outside the kit's databases"
            : null;

    /// <summary>Gives sessions of the kit's databases opened from now on <see cref="IdleTimeout"/> until the
    /// returned handle is disposed (PostgreSQL per database; MySQL server-wide, on a kit-owned server).</summary>
    public async Task<IAsyncDisposable> ShortenIdleTimeoutAsync(CancellationToken ct)
    {
        var undo = new List<string>();
        await using (var admin = await dialect.OpenAsync(_admin, ct).ConfigureAwait(false))
        {
            if (dialect.DatabaseTimeoutSql(DatabaseNames.Prefix + "x", TimeoutKind.Idle, IdleTimeout) is not null)
            {
                try
                {
                    foreach (var database in await KitDatabasesAsync(admin, ct).ConfigureAwait(false))
                    {
                        var (set, reset) = dialect.DatabaseTimeoutSql(database, TimeoutKind.Idle, IdleTimeout)!.Value;
                        // The test suite drops databases all the time (clones, replaced pools): skip those gone.
                        if (await TryExecuteAsync(admin, set, ct).ConfigureAwait(false))
                        {
                            undo.Add(reset);
                        }
                    }
                }
                catch
                {
                    await UndoAsync(undo).ConfigureAwait(false); // never leave a half-set fault behind
                    throw;
                }
            }
            else if (WhyNoIdleFault() is { } why)
            {
                throw new NotSupportedException(why + ".");
            }
            else
            {
                if (await dialect.GlobalTimeoutSqlAsync(admin, TimeoutKind.Idle, IdleTimeout, ct).ConfigureAwait(false) is { } global)
                {
                    await admin.ExecuteAsync(global.Set, ct).ConfigureAwait(false);
                    undo.Add(global.Undo);
                }
            }
        }

        return new FaultInjector.Undo(() => UndoAsync(undo));
    }

    /// <summary>Runs every undo statement; one whose database was dropped meanwhile is skipped, not fatal.</summary>
    private async Task UndoAsync(IReadOnlyList<string> undo)
    {
        await using var admin = await dialect.OpenAsync(_admin, CancellationToken.None).ConfigureAwait(false);
        foreach (var sql in undo)
        {
            await TryExecuteAsync(admin, sql, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <summary>Runs <paramref name="sql"/>; false when it names a database that no longer exists.</summary>
    private async Task<bool> TryExecuteAsync(DbConnection admin, string sql, CancellationToken ct)
    {
        try
        {
            await admin.ExecuteAsync(sql, ct).ConfigureAwait(false);
            return true;
        }
        catch (DbException e) when (dialect.IsMissingDatabase(e))
        {
            return false;
        }
    }

    /// <summary>How long until the server answers a new session again, polling every 20 ms for up to a minute.</summary>
    public async Task<TimeSpan?> TimeUntilAnswersAsync(long since, CancellationToken ct)
    {
        var probe = dialect.ForProbe(adminConnectionString, TimeSpan.FromSeconds(2));
        while (Stopwatch.GetElapsedTime(since) < TimeSpan.FromMinutes(1))
        {
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(ct);
            attempt.CancelAfter(TimeSpan.FromSeconds(2)); // a frozen server would hold the attempt forever
            try
            {
                await using var connection = await dialect.OpenAsync(probe, attempt.Token).ConfigureAwait(false);
                await connection.ScalarAsync("SELECT 1", attempt.Token).ConfigureAwait(false);
                return Stopwatch.GetElapsedTime(since);
            }
            catch (Exception e) when (!ct.IsCancellationRequested && (e is DbException or OperationCanceledException or IOException or TimeoutException or System.Net.Sockets.SocketException))
            {
                await Task.Delay(20, ct).ConfigureAwait(false);
            }
        }

        return null;
    }

    private async Task<IReadOnlyList<string>> KitDatabasesAsync(DbConnection admin, CancellationToken ct) =>
        await admin.ReadColumnAsync(dialect.ListDatabasesSql(DatabaseNames.Prefix), r => r.GetString(0), ct).ConfigureAwait(false);
}
