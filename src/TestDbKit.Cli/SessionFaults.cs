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
/// A server as a target of the fault catalogue, for <c>testdbkit fault</c> and <c>chaos</c>: database-scope faults
/// run as SQL on the administrator's connection and touch only the kit's databases (named <c>tdk_…</c>), or only
/// <paramref name="database"/> when one is named, never the kit's control sessions (the dialect's session list
/// leaves those out, as it does for FaultInjector); server-scope faults are asked of the <c>testdbkit serve</c> that
/// owns the server (<paramref name="served"/>), which undoes a lasting one when the asker lets go or dies. With
/// <paramref name="guarded"/>, the settings it changes itself are handed to an <see cref="UndoGuard"/> too.
/// </summary>
internal sealed class SessionFaults(EngineDialect dialect, string adminConnectionString, ServedServer? served, string where, string? database = null, bool guarded = true)
    : IFaultTarget
{
    private readonly string _admin = dialect.ForProbe(adminConnectionString, TimeSpan.FromSeconds(5));

    /// <summary>Takes back this process's settings if it dies first; its helper runs only while a change is held.</summary>
    private readonly UndoGuard? _guard = guarded ? new UndoGuard(dialect, adminConnectionString) : null;

    public EngineDialect Dialect => dialect;

    /// <summary>The administrator's connection string the command was given.</summary>
    public string AdminConnectionString => adminConnectionString;

    /// <summary>The one kit database faults are limited to, or null for every <c>tdk_</c> database.</summary>
    public string? Database => database;

    /// <summary>Not in this process: the proxy runs in the <c>testdbkit serve --proxy</c> that owns the server, and
    /// <see cref="NetworkAsync"/> asks it.</summary>
    public NetworkFaults Network => throw new NotSupportedException(
        "The kit's TCP proxy runs in the 'testdbkit serve --proxy' process that owns the server; network faults are asked of it over its control socket.");

    public string Where(FaultScope scope) => scope == FaultScope.Server || database is null ? where : database;

    public string? Endpoint => dialect.EndpointOf(adminConnectionString);

    /// <summary>Where <paramref name="kind"/> lands, for the events: the proxy for a network kind (every connection
    /// through it), else as <see cref="Where(FaultScope)"/>.</summary>
    public string WhereOf(FaultKind kind)
    {
        ArgumentNullException.ThrowIfNull(kind);
        return kind is NetworkFaultKind && served?.Proxy is { } port
            ? string.Create(CultureInfo.InvariantCulture, $"proxy 127.0.0.1:{port} of {where}")
            : Where(kind.Scope);
    }

    /// <summary>Asks the <c>testdbkit serve --proxy</c> that owns the server to inject the network fault
    /// <paramref name="kind"/> into its proxy with <paramref name="value"/>; returns once it is in effect. The handle of
    /// a lasting one undoes it (the owner also does when this process dies).</summary>
    public async Task<FaultOutcome> NetworkAsync(NetworkFaultKind kind, long? value, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(kind);
        if (served?.Proxy is null)
        {
            throw new InvalidOperationException($"{kind.Name} needs the proxy of a 'testdbkit serve --proxy', and {where} has none.");
        }

        FaultLog.Record(kind, WhereOf(kind));
        return await ServerControl.NetworkAsync(served, kind, value, ct).ConfigureAwait(false);
    }

    public void Consent(string what)
    {
        // The command refused a server the kit does not own unless TESTDBKIT_ALLOW_CHAOS=1 allowed it.
    }

    public async Task ExecuteAsAdminAsync(string sql, CancellationToken ct)
    {
        await using var admin = await dialect.OpenAsync(_admin, ct).ConfigureAwait(false);
        await admin.ExecuteAsync(sql, ct).ConfigureAwait(false);
    }

    /// <summary>Ends the client sessions <paramref name="filter"/> selects on the kit database(s); returns how many.</summary>
    public async Task<int> EndSessionsAsync(SessionFilter filter, CancellationToken ct)
    {
        await using var admin = await dialect.OpenAsync(_admin, ct).ConfigureAwait(false);
        var killed = 0;
        foreach (var name in await KitDatabasesAsync(admin, ct).ConfigureAwait(false))
        {
            killed += await dialect.EndSessionsAsync(admin, name, filter, ct).ConfigureAwait(false);
        }

        return killed;
    }

    /// <summary>Whether session <paramref name="id"/> is a client session of the kit database(s): what
    /// <c>fault kill-session/cancel --session</c> may touch.</summary>
    public async Task<bool> IsKitSessionAsync(long id, CancellationToken ct)
    {
        await using var admin = await dialect.OpenAsync(_admin, ct).ConfigureAwait(false);
        foreach (var name in await KitDatabasesAsync(admin, ct).ConfigureAwait(false))
        {
            var ids = await admin.ReadColumnAsync(dialect.SessionsOfDatabaseSql(name), r => Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture), ct).ConfigureAwait(false);
            if (ids.Contains(id))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>How <c>testdbkit serve</c> holds a setting fault for a <c>fault</c> or <c>chaos</c> process that asked over
    /// its socket: as that process would have done it itself, on the server serve started, undone when the asker lets go
    /// or dies.</summary>
    public static SettingFaults OwnerSettings(DbServer server)
    {
        ArgumentNullException.ThrowIfNull(server);
        return (kind, timeout, database, ct) =>
        {
            // No undo guard: serve undoes the setting when the asker lets go or dies, and a serve that dies takes
            // its server with it; a guard would outlive the fault, or take back a later one's setting.
            var here = new SessionFaults(server.Dialect, server.AdminConnectionString, served: null, server.ToString(), database, guarded: false);
            return kind is TimeoutFault timed
                ? here.ShortenTimeoutAsync(timed.Timeout, timeout ?? TimeoutFault.DefaultTimeout, ct)
                : here.ReadOnlyAsync(ct);
        };
    }

    /// <summary>Gives sessions of the kit database(s) opened from now on <paramref name="timeout"/> for
    /// <paramref name="kind"/> until the returned handle is disposed (per database on both engines; on MySQL through
    /// the kit's settings table, for sessions of its test user). On a server a <c>testdbkit serve</c> owns, the owner
    /// sets and holds it, so it is taken back even when this process is killed.</summary>
    public async Task<IAsyncDisposable> ShortenTimeoutAsync(TimeoutKind kind, TimeSpan timeout, CancellationToken ct)
    {
        if (served is not null)
        {
            return await ServerControl.SettingAsync(served, TimeoutFault.Of(kind), timeout, database, ct).ConfigureAwait(false);
        }

        await using var admin = await dialect.OpenAsync(_admin, ct).ConfigureAwait(false);
        var names = await KitDatabasesAsync(admin, ct).ConfigureAwait(false);
        var change = await ChangeEachAsync(admin, names.Select(n => dialect.DatabaseTimeoutSql(n, kind, timeout)
            ?? throw new NotSupportedException($"{dialect.Name} has no per-database {kind} timeout.")), ct).ConfigureAwait(false);

        // A .NET client's pool may reset a session to the server's global values (MySqlConnector's ConnectionReset):
        // the engine's watcher, where it has one, makes the timeout hold on those sessions too, as FaultInjector does.
        var logger = KitLogger.For(null, "TestDbKit.Cli");
        return await FaultInjector.EnforcedAsync(dialect, change,
            names.Select(name => new TimeoutEnforcement(adminConnectionString, name, DbServer.TestUserName, kind, timeout, logger, null)), ct).ConfigureAwait(false);
    }

    /// <summary>Makes new sessions of the kit database(s) read-only until the handle is disposed; held by the owner like
    /// <see cref="ShortenTimeoutAsync"/>.</summary>
    public async Task<IAsyncDisposable> ReadOnlyAsync(CancellationToken ct)
    {
        if (served is not null)
        {
            return await ServerControl.SettingAsync(served, FaultCatalogue.Get<ReadOnly>(), null, database, ct).ConfigureAwait(false);
        }

        await using var admin = await dialect.OpenAsync(_admin, ct).ConfigureAwait(false);
        var changes = new List<(string, string)>();
        foreach (var name in await KitDatabasesAsync(admin, ct).ConfigureAwait(false))
        {
            var (set, undo, serverWide) = dialect.ReadOnlySql(name);
            if (serverWide)
            {
                throw new NotSupportedException($"{dialect.Name}'s read-only setting reaches the whole server here, not one database's sessions");
            }

            changes.Add((set, undo));
        }

        return await ChangeEachAsync(admin, changes, ct).ConfigureAwait(false);
    }

    /// <summary>Asks the owner of the server; a server no <c>testdbkit serve</c> owns is refused. A lasting fault is
    /// held by the owner until the returned handle is disposed (or this process dies), then undone by it.</summary>
    public async Task<FaultOutcome> OnServerAsync(ServerFaultKind kind, TimeSpan hold, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(kind);
        if (served is null)
        {
            throw new InvalidOperationException($"{kind.Name} needs a server the kit owns, and {where} is not one.");
        }

        FaultLog.Record(kind, where);
        if (kind.Lasting)
        {
            return new FaultOutcome(await ServerControl.HoldAsync(served, kind, ct).ConfigureAwait(false));
        }

        await ServerControl.RequestAsync(served, kind, hold, ct).ConfigureAwait(false);
        return new FaultOutcome(null);
    }

    public Task<FaultOutcome> InjectAsync(FaultKind kind, FaultArgs args, CancellationToken ct) => kind.InjectAsync(this, args, ct);

    /// <summary>Why <paramref name="kind"/> cannot act on this server's kit database(s), or null when it can: the
    /// per-database settings (timeouts, read-only) need the server to apply them (on MySQL, the kit's hook).</summary>
    public async Task<string?> WhyNotAsync(FaultKind kind, CancellationToken ct)
    {
        if (kind is not (TimeoutFault or ReadOnly))
        {
            return null;
        }

        await using var admin = await dialect.OpenAsync(_admin, ct).ConfigureAwait(false);
        return await dialect.WhyNoDatabaseSettingsAsync(admin, ct).ConfigureAwait(false);
    }

    /// <summary>The named kit database exists, or why not.</summary>
    public async Task<string?> WhyNoDatabaseAsync(CancellationToken ct)
    {
        if (database is null)
        {
            return null;
        }

        await using var admin = await dialect.OpenAsync(_admin, ct).ConfigureAwait(false);
        var all = await admin.ReadColumnAsync(dialect.ListDatabasesSql(DatabaseNames.Prefix), r => r.GetString(0), ct).ConfigureAwait(false);
        return all.Contains(database, StringComparer.Ordinal) ? null : $"there is no database '{database}' on {where}";
    }

    /// <summary>Runs each change; undoes those done when one fails; the handle undoes them all. Each undo is handed to
    /// the <see cref="UndoGuard"/> first, which runs it should this process be killed before it does.</summary>
    private async Task<IAsyncDisposable> ChangeEachAsync(DbConnection admin, IEnumerable<(string Set, string Undo)> changes, CancellationToken ct)
    {
        var undo = new List<(string Sql, int? Guarded)>();
        (string Sql, int? Guarded)? current = null;
        try
        {
            foreach (var (set, reset) in changes)
            {
                var guardId = _guard?.Add(reset); // before the change: a kill between the two leaves nothing behind
                current = (reset, guardId);
                // The test suite drops databases all the time (clones, replaced pools): skip those gone.
                if (await TryExecuteAsync(admin, set, ct).ConfigureAwait(false))
                {
                    undo.Add((reset, guardId));
                }
                else if (guardId is { } id)
                {
                    _guard?.Remove(id);
                }

                current = null;
            }
        }
        catch
        {
            if (current is { } failed)
            {
                undo.Add(failed); // it may have taken effect before it failed; its undo also strikes it off the guard
            }

            await UndoAsync(undo).ConfigureAwait(false); // never leave a half-set fault behind
            throw;
        }

        return new FaultInjector.Undo(() => UndoAsync(undo));
    }

    /// <summary>Runs every undo statement; one whose database was dropped meanwhile is skipped, not fatal.</summary>
    private async Task UndoAsync(IReadOnlyList<(string Sql, int? Guarded)> undo)
    {
        await using var admin = await dialect.OpenAsync(_admin, CancellationToken.None).ConfigureAwait(false);
        foreach (var (sql, guardId) in undo)
        {
            await TryExecuteAsync(admin, sql, CancellationToken.None).ConfigureAwait(false);
            if (guardId is { } id)
            {
                _guard?.Remove(id);
            }
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
        database is { } one
            ? [one]
            : await admin.ReadColumnAsync(dialect.ListDatabasesSql(DatabaseNames.Prefix), r => r.GetString(0), ct).ConfigureAwait(false);
}
