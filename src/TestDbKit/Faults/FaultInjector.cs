using System.Data.Common;
using System.Net;
using TestDbKit.Diagnostics;
using TestDbKit.Engines;

namespace TestDbKit;

/// <summary>
/// Breaks a test's database on purpose, the way production does, so a test can prove that the code under
/// test recovers: kills sessions, cancels statements, holds locks and shortens server timeouts. Scoped to
/// one leased database: it never reaches sessions of other databases, other tests, or the kit's own
/// control sessions. Every fault that lasts is undone by disposing what it returns, and in any case when
/// the database goes back to the pool.
/// </summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "The proxy is disposed with the lease: TestDatabase.DisposeAsync undoes every fault.")]
public sealed class FaultInjector
{
    private readonly TestDatabase _database;
    private readonly List<IAsyncDisposable> _active = [];

    private NetworkFaults? _network;

    internal FaultInjector(TestDatabase database) => _database = database;

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

    private EngineDialect Dialect => _database.Server.Dialect;

    /// <summary>Ends the server session behind <paramref name="connection"/>, as an operator's kill or a
    /// failover would. The connection's next command fails with a lost connection.</summary>
    /// <param name="connection">An open connection to this test's database.</param>
    /// <param name="ct">Cancels the kill.</param>
    public async Task KillSessionAsync(DbConnection connection, CancellationToken ct = default)
    {
        FaultLog.Record("kill session", _database.Name);
        await ExecuteAsAdminAsync(Dialect.KillSessionSql(SessionOf(connection)), ct).ConfigureAwait(false);
    }

    /// <summary>Ends every session on this test's database, idle pooled ones included (the production
    /// "server has gone away" case), except the kit's own. Returns how many it ended.</summary>
    /// <param name="ct">Cancels the kill.</param>
    public async Task<int> KillAllSessionsAsync(CancellationToken ct = default)
    {
        FaultLog.Record("kill all sessions", _database.Name);
        await using var admin = await _database.Server.OpenAdminConnectionAsync(ct).ConfigureAwait(false);
        var ids = new List<long>();
        await using (var command = admin.CreateCommand())
        {
            command.CommandText = Dialect.SessionsOfDatabaseSql(_database.Name);
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                ids.Add(Convert.ToInt64(reader.GetValue(0), System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        var killed = 0;
        foreach (var id in ids)
        {
            try
            {
                await admin.ExecuteAsync(Dialect.KillSessionSql(id), ct).ConfigureAwait(false);
                killed++;
            }
            catch (DbException)
            {
                // It ended on its own between the list and the kill.
            }
        }

        return killed;
    }

    /// <summary>Cancels the statement <paramref name="connection"/> is running; the session survives.</summary>
    /// <param name="connection">A connection to this test's database, typically busy in another task.</param>
    /// <param name="ct">Cancels the request.</param>
    public async Task CancelQueryAsync(DbConnection connection, CancellationToken ct = default)
    {
        FaultLog.Record("cancel query", _database.Name);
        await ExecuteAsAdminAsync(Dialect.CancelQuerySql(SessionOf(connection)), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Holds a lock on <paramref name="table"/> that blocks every other session's reads and writes of it,
    /// until the returned handle is disposed: for lock waits and lock timeouts.
    /// </summary>
    /// <param name="table">A table of this test's database (unqualified name).</param>
    /// <param name="ct">Cancels taking the lock.</param>
    public async Task<IAsyncDisposable> HoldLockAsync(string table, CancellationToken ct = default)
    {
        FaultLog.Record($"hold lock on {table}", _database.Name);
        ArgumentException.ThrowIfNullOrWhiteSpace(table);
        var sql = Dialect.LockTableSql(table); // validates the name before anything runs
        var holder = Dialect.CreateConnection(Dialect.WithApplicationName(_database.Server.ConnectionStringFor(_database.Name), "testdbkit-fault"));
        try
        {
            await holder.OpenAsync(ct).ConfigureAwait(false);
            await holder.ExecuteAsync(sql, ct).ConfigureAwait(false);
        }
        catch
        {
            await holder.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return Track(new Undo(async () =>
        {
            try
            {
                await holder.ExecuteAsync(Dialect.ReleaseTableLockSql, CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                await holder.DisposeAsync().ConfigureAwait(false);
            }
        }));
    }

    /// <summary>
    /// Makes the server close sessions of this database that stay idle longer than <paramref name="timeout"/>
    /// (PostgreSQL <c>idle_session_timeout</c>, per database), for sessions opened after the call: the kit
    /// clears its pools so they are. Disposing restores the old value.
    /// </summary>
    /// <param name="timeout">How long a session may stay idle.</param>
    /// <param name="ct">Cancels the change.</param>
    /// <exception cref="NotSupportedException">MySQL's wait_timeout is global to the server.</exception>
    public Task<IAsyncDisposable> SetIdleTimeoutAsync(TimeSpan timeout, CancellationToken ct = default) =>
        SetTimeoutAsync(TimeoutKind.Idle, timeout, ct);

    /// <summary>Makes the server close sessions of this database that stay idle inside a transaction
    /// longer than <paramref name="timeout"/> (PostgreSQL <c>idle_in_transaction_session_timeout</c>).</summary>
    /// <param name="timeout">How long a session may stay idle in a transaction.</param>
    /// <param name="ct">Cancels the change.</param>
    /// <exception cref="NotSupportedException">MySQL has no such timeout per database.</exception>
    public Task<IAsyncDisposable> SetIdleInTransactionTimeoutAsync(TimeSpan timeout, CancellationToken ct = default) =>
        SetTimeoutAsync(TimeoutKind.IdleInTransaction, timeout, ct);

    /// <summary>Makes the server cancel statements on this database that run longer than
    /// <paramref name="timeout"/> (PostgreSQL <c>statement_timeout</c>).</summary>
    /// <param name="timeout">How long a statement may run.</param>
    /// <param name="ct">Cancels the change.</param>
    /// <exception cref="NotSupportedException">MySQL's statement timeout is global to the server.</exception>
    public Task<IAsyncDisposable> SetStatementTimeoutAsync(TimeSpan timeout, CancellationToken ct = default) =>
        SetTimeoutAsync(TimeoutKind.Statement, timeout, ct);

    /// <summary>
    /// Kills the server without warning (SIGKILL to every process of it, as the OOM killer or a power cut of
    /// the process would), then the kit starts it again on the same port and data. Clients see their
    /// connections lost; committed data survives. Needs a server of the test's own.
    /// </summary>
    /// <param name="ct">Cancels waiting for the restart.</param>
    public async Task CrashServerAsync(CancellationToken ct = default)
    {
        FaultLog.Record("crash server", _database.Server.ToString());
        await OwnServer("crash").Instance.CrashAsync(ct).ConfigureAwait(false);
        Dialect.ClearAllPools(); // every pooled session of this server died with it
    }

    /// <summary>Shuts the server down cleanly and starts it again on the same port and data. Needs a
    /// server of the test's own.</summary>
    /// <param name="ct">Cancels waiting for the restart.</param>
    public async Task RestartServerAsync(CancellationToken ct = default)
    {
        FaultLog.Record("restart server", _database.Server.ToString());
        await OwnServer("restart").Instance.RestartAsync(ct).ConfigureAwait(false);
        Dialect.ClearAllPools();
    }

    /// <summary>
    /// Freezes every process of the server (SIGSTOP) until the returned handle is disposed: connections stay
    /// open but nothing answers, as with a stalled VM or a long GC pause. Needs a server of the test's own.
    /// </summary>
    /// <param name="ct">Cancels the request.</param>
    public async Task<IAsyncDisposable> FreezeServerAsync(CancellationToken ct = default)
    {
        FaultLog.Record("freeze server", _database.Server.ToString());
        var server = OwnServer("freeze");
        await server.Instance.FreezeAsync(ct).ConfigureAwait(false);
        return Track(new Undo(() => server.Instance.ThawAsync(CancellationToken.None)));
    }

    /// <summary>
    /// Makes new sessions of this database read-only, as a failover that left the application on a replica
    /// would: writes fail with PostgreSQL 25006. Per database, so other tests are not touched. Disposing
    /// restores it.
    /// </summary>
    /// <param name="ct">Cancels the change.</param>
    /// <exception cref="NotSupportedException">MySQL's read_only does not bind the administrator the kit's sessions use.</exception>
    public async Task<IAsyncDisposable> SetReadOnlyAsync(CancellationToken ct = default)
    {
        FaultLog.Record("read-only", _database.Name);
        var (set, undo) = Dialect.ReadOnlySql(_database.Name) ?? throw new NotSupportedException(
            $"{Dialect.Name}'s read_only does not bind users with administrative rights, and the kit's test sessions use the administrator; " +
            "a read-only fault on MySQL needs per-test users, which the kit does not create yet.");
        return await ChangeSettingAsync(set, undo, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Takes every connection the server allows, so new ones fail with "too many connections" (PostgreSQL
    /// 53300, MySQL 1040) until the returned handle is disposed. Needs a server of the test's own.
    /// </summary>
    /// <param name="ct">Cancels taking them (those taken are released).</param>
    public async Task<IAsyncDisposable> ExhaustConnectionsAsync(CancellationToken ct = default)
    {
        var server = OwnServer("connection exhaustion");
        FaultLog.Record("exhaust connections", server.ToString());
        var holders = new List<DbConnection>();
        var cs = Dialect.ForProbe(Dialect.WithApplicationName(server.AdminConnectionString, "testdbkit-fault"), TimeSpan.FromSeconds(10));
        try
        {
            for (var full = false; !full && holders.Count < 5000;)
            {
                // A batch at a time: opening hundreds one by one would take seconds.
                var batch = Enumerable.Range(0, 16).Select(_ => Dialect.CreateConnection(cs)).ToList();
                var opened = await Task.WhenAll(batch.Select(async c =>
                {
                    try
                    {
                        await c.OpenAsync(ct).ConfigureAwait(false);
                        return true;
                    }
                    catch (DbException e) when (Dialect.IsTooManyConnections(e))
                    {
                        return false;
                    }
                })).ConfigureAwait(false);
                for (var i = 0; i < batch.Count; i++)
                {
                    if (opened[i])
                    {
                        holders.Add(batch[i]);
                    }
                    else
                    {
                        full = true;
                        await batch[i].DisposeAsync().ConfigureAwait(false);
                    }
                }
            }
        }
        catch
        {
            await CloseAllAsync(holders).ConfigureAwait(false);
            throw;
        }

        return Track(new Undo(() => CloseAllAsync(holders)));

        static async Task CloseAllAsync(List<DbConnection> connections)
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Undoes every fault still active; the pool calls it when the database comes back.</summary>
    internal async Task UndoAllAsync()
    {
        IAsyncDisposable[] active;
        lock (_active)
        {
            active = [.. _active];
            _active.Clear();
        }

        foreach (var fault in active.Reverse())
        {
            await fault.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task<IAsyncDisposable> SetTimeoutAsync(TimeoutKind kind, TimeSpan timeout, CancellationToken ct)
    {
        FaultLog.Record($"{kind} timeout {timeout.TotalMilliseconds:0} ms", _database.Name);
        if (timeout <= TimeSpan.Zero || timeout > TimeSpan.FromDays(1))
        {
            throw new ArgumentOutOfRangeException(nameof(timeout), timeout, "A timeout fault must be longer than zero and at most a day.");
        }

        var (set, undo) = Dialect.DatabaseTimeoutSql(_database.Name, kind, timeout) ?? await GlobalTimeoutSqlAsync(kind, timeout, ct).ConfigureAwait(false);
        return await ChangeSettingAsync(set, undo, ct).ConfigureAwait(false);
    }

    /// <summary>Runs a setting change as the administrator and returns its undo. Sessions read settings when
    /// they start, so the idle pooled sessions of this database are dropped both ways.</summary>
    private async Task<IAsyncDisposable> ChangeSettingAsync(string set, string undo, CancellationToken ct)
    {
        await ExecuteAsAdminAsync(set, ct).ConfigureAwait(false);
        Dialect.ClearPool(_database.ConnectionString);
        return Track(new Undo(async () =>
        {
            await ExecuteAsAdminAsync(undo, CancellationToken.None).ConfigureAwait(false);
            Dialect.ClearPool(_database.ConnectionString);
        }));
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
        var server = _database.Server;
        if (server.IsShared || !server.IsOwned)
        {
            throw new NotSupportedException(
                $"{Dialect.Name} has no per-database {kind} timeout: the setting is global to the server, and changing it on " +
                $"{(server.IsShared ? "the shared server" : "a server the kit does not own")} would hurt other tests. " +
                "Give this test a server of its own: 'await using var server = await DbServer.StartAsync(engine);' and a DatabasePool on it.");
        }

        await using var admin = await server.OpenAdminConnectionAsync(ct).ConfigureAwait(false);
        var variables = await Dialect.GlobalTimeoutAsync(admin, kind, timeout, ct).ConfigureAwait(false)
            ?? throw new NotSupportedException($"{Dialect.Name} has no {kind} timeout to shorten.");
        var set = string.Join("; ", variables.Select(v => $"SET GLOBAL {v.Name} = {v.New}"));
        var undo = string.Join("; ", variables.Select(v => $"SET GLOBAL {v.Name} = {v.Old}"));
        return (set, undo);
    }

    /// <summary>The server, if a fault that reaches all of it may touch it: one the kit owns, and not the
    /// run-wide shared one, where the fault would hurt every other test.</summary>
    private DbServer OwnServer(string fault)
    {
        var server = _database.Server;
        if (!server.IsOwned)
        {
            throw new InvalidOperationException(
                $"Cannot {fault} {server}: the kit does not own it. Server-level faults need a Local or Docker server that the kit started.");
        }

        if (server.IsShared)
        {
            throw new InvalidOperationException(
                $"A {fault} of the shared {server.Engine} server would hurt every test running on it. Give this test a server of its own: " +
                "'await using var server = await DbServer.StartAsync(engine);' and a DatabasePool on it.");
        }

        return server;
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

    private Undo Track(Undo undo)
    {
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

    /// <summary>A fault's undo: runs once, whoever disposes first (the test or the pool).</summary>
    private sealed class Undo(Func<Task> undo) : IAsyncDisposable
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
