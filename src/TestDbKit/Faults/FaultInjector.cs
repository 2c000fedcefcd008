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
/// <item>Any server the kit runs, the run's shared one included: kill and cancel sessions, hold a lock, network
/// faults, and the idle, idle-in-transaction and statement timeouts and read-only, set per database so that
/// neighbours are untouched (PostgreSQL: <c>ALTER DATABASE .. SET</c>; MySQL/MariaDB: the kit's settings table,
/// applied by the server's <c>init_connect</c> to every new session of the kit's test user, which the kit's
/// test sessions log in as).</item>
/// <item>A server of the test's own (<see cref="DedicatedServerAttribute"/> on the test class, or
/// <see cref="DbServer.StartAsync"/> and a <see cref="DatabasePool"/> on it): crash, restart, freeze and
/// connection exhaustion, which reach every session of the server.</item>
/// <item>An External server: nothing that makes the server end sessions or change settings unless
/// <c>TESTDBKIT_ALLOW_CHAOS=1</c> is set; even then only sessions of the kit's own databases are touched,
/// so crash, restart, freeze and connection exhaustion stay refused there, and on MySQL the timeouts and
/// read-only are refused unless the server has the kit's settings hook (a <c>testdbkit serve</c> server) and
/// the test sessions log in as a user without administrative rights.</item>
/// </list>
/// The setting faults (timeouts, read-only) reach sessions opened after the call (the kit clears this database's
/// idle pooled connections) and the test's own open connection (the base classes' <c>Connection</c>), which
/// gets the same setting at once; undoing takes it away from that connection again. Faults that end sessions
/// first settle that connection (a <c>[ResetConnection]</c> swaps it then, not lazily after the fault), so
/// they reach the connection the test is about to use. On MySQL a connection that goes back to MySqlConnector's
/// pool and comes out again is reset to the server's global values (<c>ConnectionReset=true</c>, the default;
/// <c>init_connect</c> does not run again). So on the shared server, while a timeout fault lasts, the kit also
/// watches the database's test sessions from an administrator's connection of its own and ends those that outstay
/// the timeout, as the server would have (idle ones with <c>KILL CONNECTION</c>, a lost connection to the client;
/// long statements with <c>KILL QUERY</c>, 1317 instead of the server's 1969); it stops with the fault or the lease,
/// and what goes wrong with it is logged to the test's output, never thrown. Read-only cannot be enforced that way:
/// it stays on connections held open, pools with <c>ConnectionReset=false</c> and clients that do not reset. On a
/// MySQL server of the test's own the kit changes the global setting instead (<c>wait_timeout</c>,
/// <c>idle_transaction_timeout</c>, <c>max_statement_time</c>, <c>read_only</c>: writes then fail with 1290), which
/// reaches pooled connections too.
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
    /// (PostgreSQL <c>idle_session_timeout</c>; MySQL/MariaDB <c>wait_timeout</c>, in whole seconds, rounded up),
    /// per database, on the shared server too: for sessions opened after the call (the kit clears its pools so
    /// they are) and for the test's open connection; on MySQL also for sessions MySqlConnector's pool reset on reuse
    /// (the kit's watcher ends them, see the remarks). Disposing restores the old value.
    /// </summary>
    /// <param name="timeout">How long a session may stay idle.</param>
    /// <param name="ct">Cancels the change.</param>
    /// <exception cref="NotSupportedException">A MySQL server without the kit's settings hook (External), or whose test sessions log in as an administrator.</exception>
    /// <exception cref="InvalidOperationException">An External server without <c>TESTDBKIT_ALLOW_CHAOS=1</c>.</exception>
    public Task<IAsyncDisposable> SetIdleTimeoutAsync(TimeSpan timeout, CancellationToken ct = default) =>
        SetTimeoutAsync(FaultCatalogue.Get<IdleTimeout>(), timeout, ct);

    /// <summary>Makes the server close sessions of this database that stay idle inside a transaction
    /// longer than <paramref name="timeout"/> (PostgreSQL <c>idle_in_transaction_session_timeout</c>; MariaDB
    /// <c>idle_transaction_timeout</c>, whole seconds; MySQL 8 has none, so the nearest, <c>wait_timeout</c>, which
    /// closes idle sessions in a transaction or not), per database, like <see cref="SetIdleTimeoutAsync"/>.</summary>
    /// <param name="timeout">How long a session may stay idle in a transaction.</param>
    /// <param name="ct">Cancels the change.</param>
    /// <exception cref="NotSupportedException">A MySQL server without the kit's settings hook (External), or whose test sessions log in as an administrator.</exception>
    /// <exception cref="InvalidOperationException">An External server without <c>TESTDBKIT_ALLOW_CHAOS=1</c>.</exception>
    public Task<IAsyncDisposable> SetIdleInTransactionTimeoutAsync(TimeSpan timeout, CancellationToken ct = default) =>
        SetTimeoutAsync(FaultCatalogue.Get<IdleInTransactionTimeout>(), timeout, ct);

    /// <summary>Makes the server cancel statements on this database that run longer than
    /// <paramref name="timeout"/> (PostgreSQL <c>statement_timeout</c>, 57014; MariaDB <c>max_statement_time</c>, any
    /// statement, 1969; MySQL 8 <c>max_execution_time</c>, SELECT only, 3024), per database, like
    /// <see cref="SetIdleTimeoutAsync"/>.</summary>
    /// <param name="timeout">How long a statement may run.</param>
    /// <param name="ct">Cancels the change.</param>
    /// <exception cref="NotSupportedException">A MySQL server without the kit's settings hook (External), or whose test sessions log in as an administrator.</exception>
    /// <exception cref="InvalidOperationException">An External server without <c>TESTDBKIT_ALLOW_CHAOS=1</c>.</exception>
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
    /// fail with SQLSTATE 25006 (PostgreSQL 25006, MySQL/MariaDB 1792; transient: a new connection may find the
    /// new primary). Per database on both engines, the shared server included, so other tests are not touched
    /// (PostgreSQL <c>default_transaction_read_only</c>; MySQL <c>tx_read_only</c> / <c>transaction_read_only</c>
    /// through the kit's settings hook), for sessions opened after the call and the test's open connection
    /// (from its next transaction: one already begun, such as <see cref="IsolationMode.Transaction"/>'s, keeps
    /// its mode). Disposing restores it.
    /// </summary>
    /// <param name="ct">Cancels the change.</param>
    /// <exception cref="NotSupportedException">A MySQL server without the kit's settings hook (External), or whose test sessions log in as an administrator.</exception>
    /// <exception cref="InvalidOperationException">An External server without <c>TESTDBKIT_ALLOW_CHAOS=1</c>.</exception>
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
        SettleTestConnection(); // the fault must reach the connection the test is about to use, not miss a lazily opened one
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

    /// <summary>The server timeout change behind the timeout kinds: per database, on both engines (MySQL through the
    /// kit's settings hook), for this database's new sessions and the test's own open connection.</summary>
    private async Task<IAsyncDisposable> ShortenTimeoutAsync(TimeoutKind kind, TimeSpan timeout, CancellationToken ct)
    {
        if (ServerOfItsOwnForGlobalSettings() is { } own)
        {
            (string Set, string Undo)? global;
            await using (var admin = await own.OpenAdminConnectionAsync(ct).ConfigureAwait(false))
            {
                global = await Dialect.GlobalTimeoutSqlAsync(admin, kind, timeout, ct).ConfigureAwait(false);
            }

            if (global is var (globalSet, globalUndo))
            {
                return await ChangeSettingAsync(globalSet, globalUndo, (c, t) => Dialect.ThisSessionTimeoutSqlAsync(c, kind, timeout, t), ct).ConfigureAwait(false);
            }
        }

        await RefuseWithoutDatabaseSettingsAsync($"shorten the {kind} timeout of {_database.Name}", ct).ConfigureAwait(false);
        var (set, undo) = Dialect.DatabaseTimeoutSql(_database.Name, kind, timeout)
            ?? throw new NotSupportedException($"{Dialect.Name} has no {kind} timeout to shorten.");
        var change = await ChangeSettingAsync(set, undo, (c, t) => Dialect.ThisSessionTimeoutSqlAsync(c, kind, timeout, t), ct).ConfigureAwait(false);
        return await EnforcedAsync(change, kind, timeout, ct).ConfigureAwait(false);
    }

    /// <summary>Adds to a per-database timeout what makes it hold on sessions a driver's reset took it from (see
    /// <see cref="EnforcedAsync(EngineDialect, IAsyncDisposable, IEnumerable{TimeoutEnforcement}, CancellationToken)"/>).</summary>
    private Task<IAsyncDisposable> EnforcedAsync(IAsyncDisposable change, TimeoutKind kind, TimeSpan timeout, CancellationToken ct) =>
        EnforcedAsync(Dialect, change, [new TimeoutEnforcement(_database.Server.AdminConnectionString, _database.Name,
            Dialect.Parse(_database.ConnectionString).User, kind, timeout,
            Diagnostics.KitLogger.For(null, "TestDbKit.Faults"), _database.Output)], ct);

    /// <summary>Makes the per-database timeout <paramref name="change"/> hold on sessions a driver's reset took it from:
    /// starts <paramref name="dialect"/>'s enforcer for each of <paramref name="requests"/> (MySQL: a watcher that ends
    /// the database's sessions that outstay it, see <see cref="EngineDialect.EnforceDatabaseTimeoutAsync"/>; PostgreSQL:
    /// nothing). The handle stops the enforcers first, so none ends a session on a timeout already taken back, then
    /// undoes the change; when an enforcer cannot start, everything is undone at once. Also used by the tool.</summary>
    internal static async Task<IAsyncDisposable> EnforcedAsync(EngineDialect dialect, IAsyncDisposable change, IEnumerable<TimeoutEnforcement> requests, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(dialect);
        ArgumentNullException.ThrowIfNull(change);
        ArgumentNullException.ThrowIfNull(requests);
        var enforcers = new List<IAsyncDisposable>();
        try
        {
            foreach (var request in requests)
            {
                if (await dialect.EnforceDatabaseTimeoutAsync(request, ct).ConfigureAwait(false) is { } enforcer)
                {
                    enforcers.Add(enforcer);
                }
            }
        }
        catch
        {
            await StopAllAsync().ConfigureAwait(false); // never leave a setting nobody can undo
            throw;
        }

        return enforcers.Count == 0 ? change : new Undo(StopAllAsync);

        async Task StopAllAsync()
        {
            foreach (var enforcer in enforcers)
            {
                await enforcer.DisposeAsync().ConfigureAwait(false);
            }

            await change.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The read-only fault: per database on both engines, like the timeouts.</summary>
    private async Task<IAsyncDisposable> MakeReadOnlyAsync(CancellationToken ct)
    {
        if (ServerOfItsOwnForGlobalSettings() is not null && Dialect.ServerReadOnlySql is var (globalSet, globalUndo))
        {
            return await ChangeSettingAsync(globalSet, globalUndo, thisSession: null, ct).ConfigureAwait(false); // binds open sessions too
        }

        await RefuseWithoutDatabaseSettingsAsync($"make {_database.Name} read-only", ct).ConfigureAwait(false);
        var (set, undo, _) = Dialect.ReadOnlySql(_database.Name);
        return await ChangeSettingAsync(set, undo, Dialect.ThisSessionReadOnlySqlAsync, ct).ConfigureAwait(false);
    }

    /// <summary>The test's server, when it is its own (not the shared one, not External) and the engine's per-database
    /// settings do not outlive a driver's session reset (MySQL: MySqlConnector's default <c>ConnectionReset=true</c>
    /// puts session variables back to the global values when a pooled connection is reused): there the kit changes the
    /// global setting, which reaches every session, pooled ones included. Null elsewhere: per-database settings.</summary>
    private DbServer? ServerOfItsOwnForGlobalSettings() =>
        !Dialect.DatabaseSettingsSurviveSessionReset && _database.Server is { IsOwned: true, IsShared: false } own ? own : null;

    /// <summary>Refuses a per-database setting where it would not take effect: a MySQL server without the kit's
    /// settings hook (an External one), or one whose test sessions log in as an administrator, whom the hook
    /// passes over.</summary>
    private async Task RefuseWithoutDatabaseSettingsAsync(string fault, CancellationToken ct)
    {
        var server = _database.Server;
        string? why;
        await using (var admin = await server.OpenAdminConnectionAsync(ct).ConfigureAwait(false))
        {
            why = await Dialect.WhyNoDatabaseSettingsAsync(admin, ct).ConfigureAwait(false);
        }

        if (why is null && Dialect.DatabaseSettingsSkipAdministrators && !server.HasTestUser)
        {
            why = $"{Dialect.Name} applies the kit's per-database settings (through init_connect) only to users without administrative " +
                "rights, and this test's sessions log in with the administrator's connection string the kit was given. Use a server " +
                "the kit starts (Local or Docker), whose test sessions log in as the kit's test user.";
        }

        if (why is not null)
        {
            throw new NotSupportedException($"Refused to {fault} on {server}: {why}");
        }
    }

    /// <summary>Runs a per-database setting change as the administrator and returns its undo. Sessions read the
    /// setting when they start, so the idle pooled sessions of this database are dropped both ways; the test's own
    /// open connection (the kit's <c>Connection</c>) gets it at once through <paramref name="thisSession"/>, and
    /// loses it again on undo.</summary>
    private async Task<IAsyncDisposable> ChangeSettingAsync(
        string set, string undo, Func<DbConnection, CancellationToken, Task<(string Set, string Undo)>>? thisSession, CancellationToken ct)
    {
        await ExecuteAsAdminAsync(set, ct).ConfigureAwait(false);
        Dialect.ClearPool(_database.ConnectionString);
        (DbConnection Connection, string Undo)? test;
        try
        {
            test = thisSession is null ? null : await ApplyToTestConnectionAsync(thisSession, ct).ConfigureAwait(false);
        }
        catch
        {
            await ExecuteAsAdminAsync(undo, CancellationToken.None).ConfigureAwait(false); // never leave a setting nobody can undo
            throw;
        }

        return new Undo(async () =>
        {
            await ExecuteAsAdminAsync(undo, CancellationToken.None).ConfigureAwait(false);
            Dialect.ClearPool(_database.ConnectionString);
            if (test is var (connection, sql) && connection.State == System.Data.ConnectionState.Open)
            {
                await TryExecuteAsync(connection, sql).ConfigureAwait(false);
            }
        });
    }

    /// <summary>Gives the test's current connection the setting now, if it is open and free; returns it and the
    /// statement that takes the setting away again. A connection busy in the test's own transaction or broken is
    /// left alone: a connection opened from now on gets the setting.</summary>
    private async Task<(DbConnection Connection, string Undo)?> ApplyToTestConnectionAsync(
        Func<DbConnection, CancellationToken, Task<(string Set, string Undo)>> thisSession, CancellationToken ct)
    {
        if (SettleTestConnection() is not { State: System.Data.ConnectionState.Open } connection)
        {
            return null;
        }

        try
        {
            var (set, undo) = await thisSession(connection, ct).ConfigureAwait(false);
            return await TryExecuteAsync(connection, set).ConfigureAwait(false) ? (connection, undo) : null;
        }
        catch (Exception e) when (e is DbException or InvalidOperationException || DbErrors.IsConnectionLostUncounted(e))
        {
            return null; // the connection could not even be asked (busy in the test's own transaction, or broken)
        }
    }

    private static async Task<bool> TryExecuteAsync(DbConnection connection, string sql)
    {
        try
        {
            await connection.ExecuteAsync(sql, CancellationToken.None).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is DbException or InvalidOperationException || DbErrors.IsConnectionLostUncounted(e))
        {
            return false;
        }
    }

    /// <summary>The connection the test is about to use (the kit's <c>Connection</c> in a test of the adapters'
    /// base classes), opened or swapped now (see <see cref="Sessions.TestSession.CurrentConnection"/>) so that a
    /// fault acting on sessions reaches it; null for a database leased without a session.</summary>
    private DbConnection? SettleTestConnection() => _database.Session?.CurrentConnection();

    private async Task ExecuteAsAdminAsync(string sql, CancellationToken ct)
    {
        await using var admin = await _database.Server.OpenAdminConnectionAsync(ct).ConfigureAwait(false);
        await admin.ExecuteAsync(sql, ct).ConfigureAwait(false);
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

        public string? Endpoint => Dialect.EndpointOf(injector._database.Server.AdminConnectionString);

        public void Consent(string what) => injector.CheckExternal(what);

        /// <summary>The server, if a fault that reaches all of it may touch it; throws why not.</summary>
        public DbServer ServerWide(string what) => injector.ServerWide(what);

        // Every path by which a fault ends sessions, makes the server end them, or leaves sessions with a setting
        // (which a session keeps for its life, in whichever pool holds it) tells the lease: the pool then starts a
        // new session generation when the lease ends, so no such session reaches the next test.
        public Task ExecuteAsAdminAsync(string sql, CancellationToken ct)
        {
            injector._database.MarkSessionsLost(); // kill-session (and cancel, needlessly but cheaply)
            return injector.ExecuteAsAdminAsync(sql, ct);
        }

        public Task<int> EndSessionsAsync(SessionFilter filter, CancellationToken ct) => injector._database.EndSessionsAsync(filter, ct);

        public Task<IAsyncDisposable> ShortenTimeoutAsync(TimeoutKind kind, TimeSpan timeout, CancellationToken ct)
        {
            injector._database.MarkSessionsLost(); // the server, or the kit's MySQL enforcer, ends sessions; pooled ones keep the timeout
            return injector.ShortenTimeoutAsync(kind, timeout, ct);
        }

        /// <summary>Makes the database read-only for its new sessions and the test's open connection; the handle
        /// restores it.</summary>
        public Task<IAsyncDisposable> MakeReadOnlyAsync(CancellationToken ct)
        {
            injector._database.MarkSessionsLost(); // sessions opened meanwhile stay read-only in pools the kit cannot clear
            return injector.MakeReadOnlyAsync(ct);
        }

        public Task<FaultOutcome> OnServerAsync(ServerFaultKind kind, TimeSpan hold, CancellationToken ct)
        {
            injector._database.Pool.MarkAllSessionsLost(); // crash, restart: every database's sessions, resting ones too
            return kind.InjectHereAsync(this, ServerWide(kind.Doing), ct);
        }

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
