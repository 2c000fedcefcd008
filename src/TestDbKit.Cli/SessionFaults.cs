using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using TestDbKit.Databases;
using TestDbKit.Diagnostics;
using TestDbKit.Engines;
using TestDbKit.Faults;
using TestDbKit.Servers;

namespace TestDbKit.Cli;

/// <summary>
/// A whole server as a target of the fault catalogue, for <c>testdbkit chaos</c>: database-scope faults run as
/// SQL on the administrator's connection and touch only the kit's databases (named <c>tdk_…</c>), never the
/// kit's control sessions (the dialect's session list leaves those out, as it does for FaultInjector);
/// server-scope faults are asked of the <c>testdbkit serve</c> that owns the server (<paramref name="served"/>).
/// </summary>
internal sealed class SessionFaults(EngineDialect dialect, string adminConnectionString, ServedServer? served, string where) : IFaultTarget
{

    /// <summary>The idle timeout sessions opened during an idle fault get: short enough that a pooled
    /// connection idle between two tests dies.</summary>
    public static readonly TimeSpan IdleTimeout = TimeoutFault.DefaultTimeout;

    private readonly string _admin = dialect.ForProbe(adminConnectionString, TimeSpan.FromSeconds(5));

    public EngineDialect Dialect => dialect;

    public NetworkFaults Network => throw new NotSupportedException("testdbkit chaos has no network proxy: network faults run inside a test (FaultInjector.Network).");

    public string Where(FaultScope scope) => where;

    public void Consent(string what)
    {
        // The command refused a server the kit does not own unless TESTDBKIT_ALLOW_CHAOS=1 allowed it.
    }

    public async Task ExecuteAsAdminAsync(string sql, CancellationToken ct)
    {
        await using var admin = await dialect.OpenAsync(_admin, ct).ConfigureAwait(false);
        await admin.ExecuteAsync(sql, ct).ConfigureAwait(false);
    }

    /// <summary>Ends the client sessions <paramref name="filter"/> selects on every kit database; returns how many.</summary>
    public async Task<int> EndSessionsAsync(SessionFilter filter, CancellationToken ct)
    {
        await using var admin = await dialect.OpenAsync(_admin, ct).ConfigureAwait(false);
        var killed = 0;
        foreach (var database in await KitDatabasesAsync(admin, ct).ConfigureAwait(false))
        {
            killed += await dialect.EndSessionsAsync(admin, database, filter, ct).ConfigureAwait(false);
        }

        return killed;
    }

    /// <summary>The idle timeout only, at <see cref="IdleTimeout"/>: what <c>testdbkit chaos</c> offers.</summary>
    public Task<IAsyncDisposable> ShortenTimeoutAsync(TimeoutKind kind, TimeSpan timeout, CancellationToken ct) =>
        kind == TimeoutKind.Idle && timeout == IdleTimeout
            ? ShortenIdleTimeoutAsync(ct)
            : throw new NotSupportedException($"testdbkit chaos shortens only the idle timeout, to {IdleTimeout.TotalSeconds:0} s.");

    /// <summary>Asks the owner of the server; a server no <c>testdbkit serve</c> owns is refused.</summary>
    public async Task<FaultOutcome> OnServerAsync(ServerFaultKind kind, TimeSpan hold, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(kind);
        if (served is null)
        {
            throw new InvalidOperationException($"{kind.Name} needs a server the kit owns, and {where} is not one.");
        }

        FaultLog.Record(kind, where);
        await ServerControl.RequestAsync(served, kind, hold, ct).ConfigureAwait(false);
        return new FaultOutcome(null); // the owner held and undid it
    }

    public Task<FaultOutcome> InjectAsync(FaultKind kind, FaultArgs args, CancellationToken ct) => kind.InjectAsync(this, args, ct);

    /// <summary>Whether this server allows the idle fault: per database on PostgreSQL; server-wide on MySQL,
    /// so only on a server the kit owns.</summary>
    public string? WhyNoIdleFault() =>
        !dialect.HasDatabaseTimeouts && served is null
            ? $"{dialect.Name}'s idle timeout ({Engines.EngineRegistry.Module(dialect.Engine).IdleTimeoutAdvice.Setting}) is global to the server: " +
              "on a server the kit does not own it would touch sessions outside the kit's databases"
            : null;

    /// <summary>Gives sessions of the kit's databases opened from now on <see cref="IdleTimeout"/> until the
    /// returned handle is disposed (PostgreSQL per database; MySQL server-wide, on a kit-owned server).</summary>
    public async Task<IAsyncDisposable> ShortenIdleTimeoutAsync(CancellationToken ct)
    {
        var undo = new List<string>();
        await using (var admin = await dialect.OpenAsync(_admin, ct).ConfigureAwait(false))
        {
            if (dialect.HasDatabaseTimeouts)
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
