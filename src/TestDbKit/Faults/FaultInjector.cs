using System.Data.Common;
using System.Net;
using TestDbKit.Diagnostics;
using TestDbKit.Engines;
using TestDbKit.Faults;

namespace TestDbKit;

/// <summary>
/// Breaks a test's database on purpose, the way production does, so a test can prove that the code under
/// test recovers: kills sessions, cancels statements, holds locks and shortens server timeouts. Scoped to
/// one leased database: it never reaches sessions of other databases, other tests, or the kit's own
/// control sessions. Every fault that lasts is undone by disposing what it returns, and in any case when
/// the database goes back to the pool.
/// </summary>
/// <remarks>
/// What each fault needs:
/// <list type="bullet">
/// <item>Any server: kill and cancel sessions, hold a lock, network faults; on PostgreSQL also the idle,
/// idle-in-transaction and statement timeouts and read-only, which it sets per database.</item>
/// <item>A server of the test's own (<see cref="DedicatedServerAttribute"/> on the test class, or
/// <see cref="DbServer.StartAsync"/> and a <see cref="DatabasePool"/> on it): crash, restart, freeze and
/// connection exhaustion on both engines; on MySQL the idle and statement timeouts (<c>wait_timeout</c> and
/// <c>max_statement_time</c> are global) and read-only (<c>read_only</c> is global, and binds the kit's test
/// sessions only because on such a server they log in as a user without administrative rights).</item>
/// <item>An External server: nothing that makes the server end sessions or change settings unless
/// <c>TESTDBKIT_ALLOW_CHAOS=1</c> is set; even then only sessions of the kit's own databases are touched,
/// so crash, restart, freeze, connection exhaustion and the MySQL global settings stay refused there.</item>
/// </list>
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The proxy is disposed with the lease: TestDatabase.DisposeAsync undoes every fault.")]
public sealed class FaultInjector
{
    private readonly TestDatabase _database;
    private readonly List<IAsyncDisposable> _active = [];

    private NetworkFaults? _network;

    internal FaultInjector(TestDatabase database)
    {
        _database = database;
        Target = new DatabaseTarget(this);
    }

    /// <summary>This database as a target of the fault catalogue: what schedules and the generic path drive.</summary>
    internal DatabaseTarget Target { get; }

    /// <summary>Network faults through a TCP proxy of this test's own: connect with
    /// <see cref="NetworkFaults.ConnectionString"/> and degrade or cut the traffic.</summary>
    public NetworkFaults Network
    {
        get
        {
            lock (_active)
            {
                if (_network is null)
                {
                    var endpoint = Dialect.Parse(_database.ConnectionString);
                    // The kit's servers listen on 127.0.0.1; an external one may be named by host.
                    var address = endpoint.Host is "localhost" ? IPAddress.Loopback
                        : IPAddress.TryParse(endpoint.Host, out var ip) ? ip
                        : Dns.GetHostAddresses(endpoint.Host).First();
                    _network = new NetworkFaults(_database, new IPEndPoint(address, endpoint.Port));
                    _active.Add(new Undo(async () =>
                    {
                        await _network.DisposeAsync().ConfigureAwait(false);
                        Dialect.ClearPool(_network.ConnectionString);
                    }));
                }

                return _network;
            }
        }
    }

    private const string ChaosVariable = Options.KitEnvironment.AllowChaos;

    private EngineDialect Dialect => _database.Server.Dialect;

    /// <summary>The database these faults break (its test's output gets what the kit says about them).</summary>
    internal TestDatabase Database => _database;

    private static bool ChaosAllowed => Options.KitEnvironment.ChaosAllowed;

    /// <summary>Ends the server session behind <paramref name="connection"/>, as an operator's kill or a
    /// failover would. The connection's next command fails with a lost connection.</summary>
    /// <param name="connection">An open connection to this test's database.</param>
    /// <param name="ct">Cancels the kill.</param>
    public Task KillSessionAsync(DbConnection connection, CancellationToken ct = default) =>
        FaultCatalogue.Get<KillSession>().InjectAsync(Target, () => SessionOf(connection), ct);

    /// <summary>Ends every session on this test's database, idle pooled ones included (the production
    /// "server has gone away" case), except the kit's own. Returns how many it ended.</summary>
    /// <param name="ct">Cancels the kill.</param>
    public Task<int> KillAllSessionsAsync(CancellationToken ct = default) => CountAsync(FaultCatalogue.Get<KillAllSessions>(), ct);

    /// <summary>
    /// Ends the idle sessions of this test's database: connected, not running a statement and not inside a
    /// transaction. In an application these are the sessions resting in the driver's pool, and killing them
    /// is the production "server has gone away" case: the next command on a connection taken from the pool
    /// fails (Npgsql: 57P01; MySqlConnector with <c>ConnectionReset=false</c>: a lost connection; with its
    /// default connection reset on open, the driver notices and opens a new session). A connection the test
    /// holds open but is not using is idle too. On MySQL the call first waits 0.1 s: InnoDB serves its list
    /// of open transactions from a cache of that age. Returns how many it ended.
    /// </summary>
    /// <param name="ct">Cancels the kill.</param>
    public Task<int> KillIdleSessionsAsync(CancellationToken ct = default) => CountAsync(FaultCatalogue.Get<KillIdleSessions>(), ct);

    /// <summary>Ends the busy sessions of this test's database: those running a statement or holding a
    /// transaction open (a failover in the middle of a request). Returns how many it ended.</summary>
    /// <param name="ct">Cancels the kill.</param>
    public Task<int> KillBusySessionsAsync(CancellationToken ct = default) => CountAsync(FaultCatalogue.Get<KillBusySessions>(), ct);

    /// <summary>Cancels the statement <paramref name="connection"/> is running; the session survives.</summary>
    /// <param name="connection">A connection to this test's database, typically busy in another task.</param>
    /// <param name="ct">Cancels the request.</param>
    public Task CancelQueryAsync(DbConnection connection, CancellationToken ct = default) =>
        FaultCatalogue.Get<CancelQuery>().InjectAsync(Target, () => SessionOf(connection), ct);

    /// <summary>
    /// Holds a lock on <paramref name="table"/> that blocks every other session's reads and writes of it,
    /// until the returned handle is disposed: for lock waits and lock timeouts.
    /// </summary>
    /// <param name="table">A table of this test's database (unqualified name).</param>
    /// <param name="ct">Cancels taking the lock.</param>
    public async Task<IAsyncDisposable> HoldLockAsync(string table, CancellationToken ct = default) =>
        Track(await FaultCatalogue.Get<HoldLock>().InjectAsync(Target, _database.Server.ConnectionStringFor(_database.Name), table, ct).ConfigureAwait(false));

    /// <summary>
    /// Makes the server close sessions of this database that stay idle longer than <paramref name="timeout"/>
    /// (PostgreSQL <c>idle_session_timeout</c>, per database), for sessions opened after the call: the kit
    /// clears its pools so they are. Disposing restores the old value.
    /// </summary>
    /// <param name="timeout">How long a session may stay idle.</param>
    /// <param name="ct">Cancels the change.</param>
    /// <exception cref="NotSupportedException">MySQL's wait_timeout is global to the server: it needs a server of the test's own.</exception>
    /// <exception cref="InvalidOperationException">An External server without <c>TESTDBKIT_ALLOW_CHAOS=1</c>, or MySQL's global setting on one.</exception>
    public Task<IAsyncDisposable> SetIdleTimeoutAsync(TimeSpan timeout, CancellationToken ct = default) =>
        SetTimeoutAsync(FaultCatalogue.Get<IdleTimeout>(), timeout, ct);

    /// <summary>Makes the server close sessions of this database that stay idle inside a transaction
    /// longer than <paramref name="timeout"/> (PostgreSQL <c>idle_in_transaction_session_timeout</c>).</summary>
    /// <param name="timeout">How long a session may stay idle in a transaction.</param>
    /// <param name="ct">Cancels the change.</param>
    /// <exception cref="NotSupportedException">MySQL has no such timeout per database.</exception>
    public Task<IAsyncDisposable> SetIdleInTransactionTimeoutAsync(TimeSpan timeout, CancellationToken ct = default) =>
        SetTimeoutAsync(FaultCatalogue.Get<IdleInTransactionTimeout>(), timeout, ct);

    /// <summary>Makes the server cancel statements on this database that run longer than
    /// <paramref name="timeout"/> (PostgreSQL <c>statement_timeout</c>).</summary>
    /// <param name="timeout">How long a statement may run.</param>
    /// <param name="ct">Cancels the change.</param>
    /// <exception cref="NotSupportedException">MySQL's statement timeout is global to the server: it needs a server of the test's own.</exception>
    /// <exception cref="InvalidOperationException">An External server without <c>TESTDBKIT_ALLOW_CHAOS=1</c>, or MySQL's global setting on one.</exception>
    public Task<IAsyncDisposable> SetStatementTimeoutAsync(TimeSpan timeout, CancellationToken ct = default) =>
        SetTimeoutAsync(FaultCatalogue.Get<StatementTimeout>(), timeout, ct);

    /// <summary>
    /// Kills the server without warning (SIGKILL to every process of it, as the OOM killer or a power cut of
    /// the process would), then the kit starts it again on the same port and data. Clients see their
    /// connections lost; committed data survives. Needs a server of the test's own.
    /// </summary>
    /// <param name="ct">Cancels waiting for the restart.</param>
    /// <exception cref="InvalidOperationException">The shared server (put <see cref="DedicatedServerAttribute"/> on the test class), or an External server.</exception>
    public Task CrashServerAsync(CancellationToken ct = default) => InjectAsync(FaultCatalogue.Get<Crash>(), new FaultArgs(TimeSpan.Zero), ct);

    /// <summary>Shuts the server down cleanly and starts it again on the same port and data. Needs a
    /// server of the test's own.</summary>
    /// <param name="ct">Cancels waiting for the restart.</param>
    /// <exception cref="InvalidOperationException">The shared server (put <see cref="DedicatedServerAttribute"/> on the test class), or an External server.</exception>
    public Task RestartServerAsync(CancellationToken ct = default) => InjectAsync(FaultCatalogue.Get<Restart>(), new FaultArgs(TimeSpan.Zero), ct);

    /// <summary>
    /// Freezes every process of the server (SIGSTOP) until the returned handle is disposed: connections stay
    /// open but nothing answers, as with a stalled VM or a long GC pause. Needs a server of the test's own.
    /// </summary>
    /// <param name="ct">Cancels the request.</param>
    /// <exception cref="InvalidOperationException">The shared server (put <see cref="DedicatedServerAttribute"/> on the test class), or an External server.</exception>
    public Task<IAsyncDisposable> FreezeServerAsync(CancellationToken ct = default) => LastingAsync(FaultCatalogue.Get<Freeze>(), new FaultArgs(TimeSpan.Zero), ct);

    /// <summary>
    /// Makes this database read-only, as a failover that left the application on a replica would: writes
    /// fail with PostgreSQL 25006 or MySQL 1290 (both transient: a new connection may find the new primary).
    /// PostgreSQL: per database, for sessions opened after the call, so other tests are not touched. MySQL:
    /// <c>read_only</c> is global and binds only users without administrative rights, so it needs a server of
    /// the test's own, where the kit's test sessions log in as such a user; it binds open sessions at once.
    /// Disposing restores it.
    /// </summary>
    /// <param name="ct">Cancels the change.</param>
    /// <exception cref="InvalidOperationException">MySQL on the shared or an External server; PostgreSQL on an External server without <c>TESTDBKIT_ALLOW_CHAOS=1</c>.</exception>
    public Task<IAsyncDisposable> SetReadOnlyAsync(CancellationToken ct = default) => LastingAsync(FaultCatalogue.Get<ReadOnly>(), new FaultArgs(TimeSpan.Zero), ct);

    /// <summary>
    /// Takes every connection the server allows, so new ones fail with "too many connections" (PostgreSQL
    /// 53300, MySQL 1040) until the returned handle is disposed. Needs a server of the test's own.
    /// </summary>
    /// <param name="ct">Cancels taking them (those taken are released).</param>
    /// <exception cref="InvalidOperationException">The shared server (put <see cref="DedicatedServerAttribute"/> on the test class), or an External server.</exception>
    public Task<IAsyncDisposable> ExhaustConnectionsAsync(CancellationToken ct = default) => LastingAsync(FaultCatalogue.Get<ExhaustConnections>(), new FaultArgs(TimeSpan.Zero), ct);

    /// <summary>The generic path: injects any kind of the catalogue this target can drive; a lasting one is undone
    /// by disposing the returned outcome's handle, and in any case when the database goes back to the pool.</summary>
    internal async Task<FaultOutcome> InjectAsync(FaultKind kind, FaultArgs args, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(kind);
        var outcome = await kind.InjectAsync(Target, args, ct).ConfigureAwait(false);
        return outcome.Undo is { } undo ? outcome with { Undo = Track(undo) } : outcome;
    }

    private async Task<IAsyncDisposable> LastingAsync(FaultKind kind, FaultArgs args, CancellationToken ct) =>
        (await InjectAsync(kind, args, ct).ConfigureAwait(false)).Undo
        ?? throw new InvalidOperationException($"The '{kind.Name}' fault returned nothing to undo it with.");

    private async Task<int> CountAsync(FaultKind kind, CancellationToken ct) =>
        (await InjectAsync(kind, new FaultArgs(TimeSpan.Zero), ct).ConfigureAwait(false)).Count ?? 0;

    /// <summary>Undoes every fault still active; the pool calls it when the database comes back.</summary>
    internal async Task UndoAllAsync()
    {
        IAsyncDisposable[] active;
        lock (_active)
        {
            active = [.. _active];
            _active.Clear();
        }

        // Every undo runs, whatever an earlier one threw: a failed lock release must not leave the server
        // read-only, frozen or with a short timeout for every later test.
        var failures = new List<Exception>();
        foreach (var fault in active.Reverse())
        {
            try
            {
                await fault.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failures.Add(e);
            }
        }

        if (failures.Count > 0)
        {
            throw new AggregateException($"Could not undo {failures.Count} fault(s) on {_database.Name}; the database is dropped rather than reused.", failures);
        }
    }

    private Task<IAsyncDisposable> SetTimeoutAsync(TimeoutFault kind, TimeSpan timeout, CancellationToken ct) =>
        LastingAsync(kind, new FaultArgs(TimeSpan.Zero) { Timeout = timeout }, ct);

    /// <summary>The server timeout change behind the timeout kinds: per database where the engine has it, else
    /// global (a server of the test's own only).</summary>
    private async Task<IAsyncDisposable> ShortenTimeoutAsync(TimeoutKind kind, TimeSpan timeout, CancellationToken ct)
    {
        var (set, undo) = Dialect.DatabaseTimeoutSql(_database.Name, kind, timeout) ?? await GlobalTimeoutSqlAsync(kind, timeout, ct).ConfigureAwait(false);
        return await ChangeSettingAsync(set, undo, ct).ConfigureAwait(false);
    }

    /// <summary>Runs a setting change as the administrator and returns its undo. Sessions read settings when
    /// they start, so the idle pooled sessions of this database are dropped both ways.</summary>
    private async Task<IAsyncDisposable> ChangeSettingAsync(string set, string undo, CancellationToken ct)
    {
        await ExecuteAsAdminAsync(set, ct).ConfigureAwait(false);
        Dialect.ClearPool(_database.ConnectionString);
        return new Undo(async () =>
        {
            await ExecuteAsAdminAsync(undo, CancellationToken.None).ConfigureAwait(false);
            Dialect.ClearPool(_database.ConnectionString);
        });
    }

    private async Task ExecuteAsAdminAsync(string sql, CancellationToken ct)
    {
        await using var admin = await _database.Server.OpenAdminConnectionAsync(ct).ConfigureAwait(false);
        await admin.ExecuteAsync(sql, ct).ConfigureAwait(false);
    }

    /// <summary>SET GLOBAL statements for an engine whose timeout is server-wide (MySQL): allowed only on a
    /// server of the test's own, where it cannot hurt other tests.</summary>
    private async Task<(string Set, string Undo)> GlobalTimeoutSqlAsync(TimeoutKind kind, TimeSpan timeout, CancellationToken ct)
    {
        if (_database.Server.IsShared)
        {
            throw new NotSupportedException(
                $"{Dialect.Name} has no per-database {kind} timeout: the setting is global to the server, and changing it on the shared " +
                "server would hurt other tests. " + OwnServerAdvice);
        }

        var server = ServerWide($"change the server's global {kind} timeout");
        await using var admin = await server.OpenAdminConnectionAsync(ct).ConfigureAwait(false);
        return await Dialect.GlobalTimeoutSqlAsync(admin, kind, timeout, ct).ConfigureAwait(false)
            ?? throw new NotSupportedException($"{Dialect.Name} has no {kind} timeout to shorten.");
    }

    private const string OwnServerAdvice =
        "Give the test a server of its own: put [DedicatedServer] on the test class (ResilientDbTestBase), or " +
        "'await using var server = await DbServer.StartAsync(engine);' and a DatabasePool on it.";

    /// <summary>The server, if a fault that reaches all of it may touch it: not the run-wide shared one, where
    /// it would hurt every other test, and never an External one, where it would reach sessions of databases
    /// that are not the kit's (consent or not).</summary>
    private DbServer ServerWide(string fault)
    {
        var server = _database.Server;
        if (server.IsShared)
        {
            throw new InvalidOperationException(
                $"Refused to {fault}: {server} is the run's shared server, and the fault would hurt every test running on it. " + OwnServerAdvice);
        }

        CheckExternal(fault);
        if (!server.IsOwned)
        {
            throw new InvalidOperationException(
                $"Refused to {fault} on {server}: the fault reaches every session of the server, other databases' too, and the kit " +
                "does not run this External server. Use a Local or Docker server: put [DedicatedServer] on the test class, or " +
                "'DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local })'.");
        }

        return server;
    }

    /// <summary>On an External server, faults that end sessions or change settings need the user's consent:
    /// sessions of other people may live there.</summary>
    private void CheckExternal(string fault)
    {
        var server = _database.Server;
        if (!server.IsOwned && !ChaosAllowed)
        {
            throw new InvalidOperationException(
                $"Refused to {fault} on {server}: the kit does not run this External server, and other people's sessions may live on it. " +
                $"Set {ChaosVariable}=1 to allow faults there (they touch only sessions of the kit's own databases), or use a Local or Docker server.");
        }
    }

    private long SessionOf(DbConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (connection.State != System.Data.ConnectionState.Open && connection.State != System.Data.ConnectionState.Executing
            && connection.State != System.Data.ConnectionState.Fetching)
        {
            throw new ArgumentException($"The connection is {connection.State}; a fault needs an open connection to {_database.Name}.", nameof(connection));
        }

        if (!string.Equals(connection.Database, _database.Name, StringComparison.Ordinal))
        {
            throw new ArgumentException(
                $"The connection is on database '{connection.Database}', not on this test's database '{_database.Name}': " +
                "faults only touch the test's own sessions.", nameof(connection));
        }

        return Dialect.SessionIdOf(connection);
    }

    private Undo Track(IAsyncDisposable fault)
    {
        var undo = fault as Undo ?? new Undo(() => fault.DisposeAsync().AsTask());
        lock (_active)
        {
            _active.Add(undo);
        }

        undo.Forget = () =>
        {
            lock (_active)
            {
                _active.Remove(undo);
            }
        };
        return undo;
    }

    /// <summary>The leased database as a target of the catalogue: its sessions and settings, its network proxy,
    /// and its server when the test has one of its own. Refuses what <see cref="FaultInjector"/> refuses.</summary>
    internal sealed class DatabaseTarget(FaultInjector injector) : IFaultTarget
    {
        public EngineDialect Dialect => injector.Dialect;

        /// <summary>The test database's name.</summary>
        public string Name => injector._database.Name;

        public NetworkFaults Network => injector.Network;

        public string Where(FaultScope scope) => scope == FaultScope.Server ? injector._database.Server.ToString() : Name;

        public void Consent(string what) => injector.CheckExternal(what);

        /// <summary>The server, if a fault that reaches all of it may touch it; throws why not.</summary>
        public DbServer ServerWide(string what) => injector.ServerWide(what);

        public Task ExecuteAsAdminAsync(string sql, CancellationToken ct) => injector.ExecuteAsAdminAsync(sql, ct);

        public Task<int> EndSessionsAsync(SessionFilter filter, CancellationToken ct) => injector._database.EndSessionsAsync(filter, ct);

        public Task<IAsyncDisposable> ShortenTimeoutAsync(TimeoutKind kind, TimeSpan timeout, CancellationToken ct) => injector.ShortenTimeoutAsync(kind, timeout, ct);

        /// <summary>Runs a setting change as the administrator; the handle restores it.</summary>
        public Task<IAsyncDisposable> ChangeSettingAsync(string set, string undo, CancellationToken ct) => injector.ChangeSettingAsync(set, undo, ct);

        public Task<FaultOutcome> OnServerAsync(ServerFaultKind kind, TimeSpan hold, CancellationToken ct) =>
            kind.InjectHereAsync(this, ServerWide(kind.Doing), ct);

        /// <summary>Injects <paramref name="kind"/> here, keeping a lasting fault's undo until the lease ends.</summary>
        public Task<FaultOutcome> InjectAsync(FaultKind kind, FaultArgs args, CancellationToken ct) => injector.InjectAsync(kind, args, ct);
    }

    /// <summary>A fault's undo: runs once, whoever disposes first (the test, the pool, or testdbkit chaos).</summary>
    internal sealed class Undo(Func<Task> undo) : IAsyncDisposable
    {
        private int _done;

        public Action? Forget { get; set; }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                Forget?.Invoke();
                await undo().ConfigureAwait(false);
            }
        }
    }
}
