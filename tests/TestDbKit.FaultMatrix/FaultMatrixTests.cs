using System.Collections.Concurrent;
using System.Data;
using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using MySqlConnector;
using Npgsql;
using TestDbKit.Tests.Databases;
using TestDbKit.Tests.Faults;
using Xunit.Abstractions;

namespace TestDbKit.FaultMatrix;

/// <summary>One dedicated server per engine for the whole matrix (server-wide faults need one, and one start
/// per engine keeps the matrix fast), and the rows the matrix's cases recorded for the published document.</summary>
public sealed class MatrixServers : IAsyncLifetime
{
    private readonly Dictionary<DbEngine, DatabasePool> _pools = [];
    private readonly List<DbServer> _servers = [];

    public DatabasePool this[DbEngine engine] => _pools[engine];

    /// <summary>The rows recorded so far, by fault, engine and client.</summary>
    internal ConcurrentDictionary<(string Fault, DbEngine Engine, string Client), IMatrixRow> Rows { get; } = new();

    private readonly Lock _pythonLock = new();
    private Dictionary<DbEngine, Task<IReadOnlyList<PythonRow>>>? _python;

    /// <summary>The Python rows of one engine. Both engines' scripts start with the fixture (each runs its own
    /// `testdbkit serve`, so they need none of the matrix's servers) and run while the .NET cases do.</summary>
    internal Task<IReadOnlyList<PythonRow>> PythonRowsAsync(DbEngine engine)
    {
        lock (_pythonLock)
        {
            _python ??= new() { [DbEngine.PostgreSql] = PythonMatrix.RunAsync(DbEngine.PostgreSql), [DbEngine.MySql] = PythonMatrix.RunAsync(DbEngine.MySql) };
            return _python[engine];
        }
    }

    public async Task InitializeAsync()
    {
        foreach (var engine in new[] { DbEngine.PostgreSql, DbEngine.MySql })
        {
            var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
            _servers.Add(server);
            _pools[engine] = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 });
        }

        _ = PythonRowsAsync(DbEngine.PostgreSql); // observed (and awaited) by the Python tests, or by DisposeAsync
    }

    public async Task DisposeAsync()
    {
        if (_python is { } python)
        {
            // A script nobody awaited (a filtered run) still ends before its servers' parent goes.
            await Task.WhenAll(python.Values).ContinueWith(_ => { }, TaskScheduler.Default);
        }

        foreach (var pool in _pools.Values)
        {
            await pool.DisposeAsync();
        }

        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }
    }
}

/// <summary>
/// Every fault on both engines: a naive client (no retry, one connection, the driver's default pool) fails
/// with the exact error production shows, its classification and the connection's state; a resilient client
/// (Polly retrying on DbErrors.IsTransient, a new pooled connection per attempt) recovers, and proves the fault
/// reached it (it retried at least one error of the kind the fault causes); and the next test is healthy.
/// Each case records what it saw; the last test renders docs/fault-matrix.md from those rows and fails when
/// the committed file differs (scripts/fault-matrix.sh rewrites it).
/// </summary>
[TestCaseOrderer(MatrixOrder.TypeName, MatrixOrder.AssemblyName)]
public sealed class FaultMatrixTests(MatrixServers servers, ITestOutputHelper output) : IClassFixture<MatrixServers>
{
    /// <summary>The client-visible outcome: the error (SQLSTATE, MySQL error number, or the exception's
    /// type), its classification, and the state of the naive client's connection afterwards.</summary>
    public sealed record Outcome(string Error, bool Transient, bool Lost, ConnectionState State)
    {
        public override string ToString() => $"{Error}, {(Transient ? "transient" : "not transient")}, {(Lost ? "lost" : "session kept")}, {State}";
    }

    // What the drivers show, observed against the real servers. Npgsql reports a server-side termination with
    // its SQLSTATE and leaves the connection Closed; MySqlConnector marks it Broken. MySqlConnector's default
    // connection reset on open hides a killed idle pooled session (the driver opens a new one); a cancelled
    // or timed-out statement is not transient on either engine: nothing should retry it blindly.
    private static readonly Dictionary<(string Fault, DbEngine Engine), Outcome[]> Expected = new()
    {
        [("kill busy sessions", DbEngine.MySql)] = [new("MySqlException/MySqlEndOfStreamException", true, true, ConnectionState.Broken)],
        [("ambiguous commit", DbEngine.MySql)] = [new("MySqlException/SocketException", true, true, ConnectionState.Broken)],
        [("ambiguous commit", DbEngine.PostgreSql)] = [new("NpgsqlException/IOException", true, true, ConnectionState.Closed)],
        [("cancel query", DbEngine.MySql)] = [new("1317", false, false, ConnectionState.Open)],
        [("cancel query", DbEngine.PostgreSql)] = [new("57014", false, false, ConnectionState.Open)],
        [("crash", DbEngine.MySql)] = [new("MySqlException/MySqlEndOfStreamException", true, true, ConnectionState.Broken)],
        // A backend killed at once closes the socket; one that outlives the postmaster for a moment says so (57P01).
        [("crash", DbEngine.PostgreSql)] = [new("NpgsqlException/EndOfStreamException", true, true, ConnectionState.Closed), new("57P01", true, true, ConnectionState.Closed)],
        [("exhaust connections", DbEngine.MySql)] = [new("1040", true, false, ConnectionState.Closed)],
        [("exhaust connections", DbEngine.PostgreSql)] = [new("53300", true, false, ConnectionState.Closed)],
        [("freeze", DbEngine.MySql)] = [new("MySqlException/SocketException", true, true, ConnectionState.Broken)],
        [("freeze", DbEngine.PostgreSql)] = [new("NpgsqlException/TimeoutException", true, false, ConnectionState.Closed)],
        [("hold lock (lock timeout)", DbEngine.MySql)] = [new("1205", true, false, ConnectionState.Open)],
        [("hold lock (lock timeout)", DbEngine.PostgreSql)] = [new("55P03", true, false, ConnectionState.Open)],
        [("idle in transaction timeout", DbEngine.MySql)] = [new("SocketException", true, true, ConnectionState.Broken)],
        [("idle in transaction timeout", DbEngine.PostgreSql)] = [new("25P03", true, true, ConnectionState.Closed)],
        [("idle timeout", DbEngine.MySql)] = [new("SocketException", true, true, ConnectionState.Broken)],
        [("idle timeout", DbEngine.PostgreSql)] = [new("57P05", true, true, ConnectionState.Closed)],
        [("kill busy sessions", DbEngine.PostgreSql)] = [new("57P01", true, true, ConnectionState.Closed)],
        [("kill idle pooled sessions", DbEngine.MySql)] = [new("none", false, false, ConnectionState.Open)],
        [("kill idle pooled sessions", DbEngine.PostgreSql)] = [new("57P01", true, true, ConnectionState.Closed)],
        [("kill session", DbEngine.MySql)] = [new("MySqlException/MySqlEndOfStreamException", true, true, ConnectionState.Broken)],
        [("kill session", DbEngine.PostgreSql)] = [new("57P01", true, true, ConnectionState.Closed)],
        [("network cut in a reply", DbEngine.MySql)] = [new("MySqlException/SocketException", true, true, ConnectionState.Broken)],
        [("network cut in a reply", DbEngine.PostgreSql)] = [new("NpgsqlException/IOException", true, true, ConnectionState.Closed)],
        // MySqlConnector wraps the reset in 1042, with or without the socket error inside, depending on where the handshake stood.
        [("network refuses new connections", DbEngine.MySql)] = [new("1042", true, false, ConnectionState.Closed), new("1042", true, true, ConnectionState.Closed)],
        // The proxy resets the new connection at once: Npgsql meets the reset on its first write (SocketException) or,
        // when the close lands first, reads the end of the stream (EndOfStreamException; seen on a loaded machine).
        // The reset races the client's first write or read: the socket error, the end of the stream, or an IOException wrapping either.
        [("network refuses new connections", DbEngine.PostgreSql)] = [new("NpgsqlException/SocketException", true, true, ConnectionState.Closed), new("NpgsqlException/EndOfStreamException", true, true, ConnectionState.Closed), new("NpgsqlException/IOException", true, true, ConnectionState.Closed)],
        [("network reset", DbEngine.MySql)] = [new("SocketException", true, true, ConnectionState.Broken)],
        [("network reset", DbEngine.PostgreSql)] = [new("NpgsqlException/IOException", true, true, ConnectionState.Closed)],
        [("network stall", DbEngine.MySql)] = [new("MySqlException/SocketException", true, true, ConnectionState.Broken)],
        [("network stall", DbEngine.PostgreSql)] = [new("NpgsqlException/TimeoutException", true, false, ConnectionState.Closed)],
        [("read-only (failover to a replica)", DbEngine.MySql)] = [new("1290", true, false, ConnectionState.Open)],
        [("read-only (failover to a replica)", DbEngine.PostgreSql)] = [new("25006", true, false, ConnectionState.Open)],
        [("restart", DbEngine.MySql)] = [new("MySqlException/MySqlEndOfStreamException", true, true, ConnectionState.Broken)],
        [("restart", DbEngine.PostgreSql)] = [new("57P01", true, true, ConnectionState.Closed)],
        [("statement timeout", DbEngine.MySql)] = [new("1969", false, false, ConnectionState.Open)],
        [("statement timeout", DbEngine.PostgreSql)] = [new("57014", false, false, ConnectionState.Open)],
    };

    public static TheoryData<string, DbEngine> Cases()
    {
        var data = new TheoryData<string, DbEngine>();
        foreach (var (name, scenario) in Scenarios)
        {
            foreach (var engine in scenario.Engines)
            {
                data.Add(name, engine);
            }
        }

        return data;
    }

    /// <summary>The .NET driver each engine's row speaks for.</summary>
    internal static string ClientOf(DbEngine engine) => engine == DbEngine.PostgreSql ? "Npgsql" : "MySqlConnector";

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task A_naive_client_fails_as_in_production_a_resilient_one_recovers_and_the_next_test_is_healthy(string fault, DbEngine engine)
    {
        var row = await RunAsync(fault, engine);
        output.WriteLine(row.Timing());
    }

    /// <summary>The EF Core rows: each provider's context on the matrix's own servers (see <see cref="EfMatrix"/>).</summary>
    [Theory]
    [MemberData(nameof(PythonEngines))]
    public async Task EF_Core_providers_meet_each_fault_as_the_matrix_records(DbEngine engine) => await RunEfAsync(engine);

    private async Task RunEfAsync(DbEngine engine)
    {
        foreach (var row in await EfMatrix.RunAsync(engine, servers[engine]))
        {
            servers.Rows[(row.Fault, engine, EfMatrix.Client)] = row;
            output.WriteLine(row.Timing());
        }
    }

    public static TheoryData<DbEngine> PythonEngines() => new() { DbEngine.PostgreSql, DbEngine.MySql };

    /// <summary>The Python rows: SQLAlchemy over psycopg2 / PyMySQL against a `testdbkit serve` of their own, the
    /// faults injected with `testdbkit fault` (tests/python/fault_matrix.py; each row's premise is checked).</summary>
    [Theory]
    [MemberData(nameof(PythonEngines))]
    public async Task Python_clients_meet_each_fault_as_the_matrix_records(DbEngine engine) => await RunPythonAsync(engine);

    /// <summary>The Python rows of the faults the matrix injects itself between a Python client's steps: on its own
    /// servers (crash, restart, freeze, exhaustion), through the kit's network proxy, or on a session the client holds
    /// (tests/python/matrix_client.py, driven by <see cref="PythonDriven"/>).</summary>
    [Theory]
    [MemberData(nameof(PythonEngines))]
    public async Task Python_clients_meet_the_faults_the_matrix_injects_between_their_steps(DbEngine engine) => await RunPythonDrivenAsync(engine);

    private async Task RunPythonDrivenAsync(DbEngine engine)
    {
        foreach (var row in await PythonDriven.RunAsync(engine, servers[engine]))
        {
            servers.Rows[(row.Fault, engine, PythonMatrix.Client)] = row;
            output.WriteLine(row.Timing());
        }
    }

    private async Task RunPythonAsync(DbEngine engine)
    {
        foreach (var row in await servers.PythonRowsAsync(engine))
        {
            servers.Rows[(row.Fault, engine, row.Client)] = row;
            output.WriteLine(row.Timing());
        }
    }

    /// <summary>
    /// Runs last (see <see cref="MatrixOrder"/>): the cases that did not run in this process (a filtered run)
    /// run now, then the document is rendered from every row. With TESTDBKIT_FAULT_MATRIX=write it replaces
    /// docs/fault-matrix.md; otherwise it must equal the committed file.
    /// </summary>
    [Fact]
    public async Task The_published_fault_matrix_is_what_this_run_saw()
    {
        foreach (var row in Cases())
        {
            var (fault, engine) = ((string)row[0], (DbEngine)row[1]);
            if (!servers.Rows.ContainsKey((fault, engine, ClientOf(engine))))
            {
                await RunAsync(fault, engine);
            }
        }

        foreach (var engine in new[] { DbEngine.PostgreSql, DbEngine.MySql })
        {
            if (!servers.Rows.Keys.Any(k => k.Engine == engine && k.Client == PythonMatrix.Client))
            {
                await RunPythonAsync(engine);
            }

            if (!servers.Rows.ContainsKey((PythonDriven.Faults[0], engine, PythonMatrix.Client)))
            {
                await RunPythonDrivenAsync(engine);
            }

            if (!servers.Rows.Keys.Any(k => k.Engine == engine && k.Client == EfMatrix.Client))
            {
                await RunEfAsync(engine);
            }
        }

        var rows = servers.Rows.Values.ToList();
        var document = MatrixDocument.Render(rows, Scenarios.Keys.ToList());
        var timings = MatrixDocument.RenderTimings(rows);
        output.WriteLine(timings);
        MatrixDocument.Publish(document, timings, output);
    }

    private async Task<MatrixRow> RunAsync(string fault, DbEngine engine)
    {
        var scenario = Scenarios[fault];
        var pool = servers[engine];

        // Every phase starts on empty driver pools: what a retry meets must not depend on the cases before it.
        ClearDriverPools();
        Outcome observed;
        Exception? error = null;
        string serverVersion;
        await using (var db = await pool.LeaseAsync())
        {
            var x = new Ctx(engine, db);
            var connection = await x.OpenAsync();
            serverVersion = connection.ServerVersion;
            try
            {
                await scenario.Naive(x, connection);
            }
            catch (Exception e)
            {
                error = e;
            }

            var state = (x.Victim ?? connection).State;
            observed = error is null
                ? new Outcome("none", false, false, state)
                : new Outcome(ErrorOf(error), DbErrors.IsTransient(error), DbErrors.IsConnectionLost(error), state);
            await x.DisposeOpenedAsync();
        } // every fault still active is undone here

        Assert.True(Expected.TryGetValue((fault, engine), out var expected), $"no expectation for {fault} on {engine}; observed: new(\"{observed.Error}\", {observed.Transient.ToString().ToLowerInvariant()}, {observed.Lost.ToString().ToLowerInvariant()}, ConnectionState.{observed.State})");
        Assert.Contains(observed, expected);

        Recovery? recovery = null;
        if (scenario.Resilient is { } resilient)
        {
            ClearDriverPools();
            await using var db = await pool.LeaseAsync();
            var x = new Ctx(engine, db);
            var clock = Stopwatch.StartNew();
            var firstRetryAt = x.Retry.FirstRetry.ContinueWith(_ => clock.Elapsed, TaskScheduler.Default);
            await resilient(x);
            var total = clock.Elapsed;
            var retries = x.Retry.Retried.Count;
            recovery = new Recovery(retries, retries > 0 ? total - await firstRetryAt : TimeSpan.Zero, LastingFaults.Contains(fault));
        }

        // The next test: a healthy connection, a clean database, and no fault left behind.
        await using (var next = await pool.LeaseAsync())
        {
            await using var connection = await next.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("items"));
            await connection.ExecuteAsync("INSERT INTO items (tag) VALUES ('healthy')");
        }

        var row = new MatrixRow(fault, engine, ClientOf(engine), serverVersion, error, observed.State, expected, recovery);
        servers.Rows[(fault, engine, row.Client)] = row;
        return row;
    }

    /// <summary>The server's id of the session behind an open connection, from the driver's public API.</summary>
    internal static long SessionIdOf(DbConnection connection) => connection switch
    {
        NpgsqlConnection pg => pg.ProcessID,
        MySqlConnection my => my.ServerThread,
        _ => throw new NotSupportedException(connection.GetType().Name),
    };

    /// <summary>Empties both drivers' pools (the kit's own idle connections too: they reopen on demand).</summary>
    internal static void ClearDriverPools()
    {
        NpgsqlConnection.ClearAllPools();
        MySqlConnection.ClearAllPools();
    }

    /// <summary>Faults that last until lifted: the resilient client keeps retrying until they end, so its
    /// number of retries depends on timing; the others are over once injected, and one new session is enough.</summary>
    private static readonly HashSet<string> LastingFaults =
    [
        "hold lock (lock timeout)", "read-only (failover to a replica)", "exhaust connections", "freeze",
        "network refuses new connections", "network stall", "network cut in a reply",
    ];

    /// <summary>A pool that hands out its connections unchecked, as Npgsql's does: MySqlConnector's default
    /// reset on open would quietly replace a dead pooled session, and the fault would never reach the client.</summary>
    private static string UncheckedPool(DbEngine engine, string cs) => engine == DbEngine.MySql ? cs + ";Connection Reset=false" : cs;

    /// <summary>The kind of error a fault must make the resilient client retry at least once.</summary>
    private enum Seen
    {
        /// <summary>A lost connection (a kill, a crash, a reset).</summary>
        LostConnection,

        /// <summary>Any transient error (a lock timeout, a refused write, no free connection, a stall).</summary>
        Transient,
    }

    private sealed record Scenario(DbEngine[] Engines, Func<Ctx, DbConnection, Task> Naive, Func<Ctx, Task>? Resilient);

    private static readonly DbEngine[] Both = [DbEngine.PostgreSql, DbEngine.MySql];

    private static readonly Dictionary<string, Scenario> Scenarios = new()
    {
        ["kill session"] = new(Both,
            async (x, c) =>
            {
                await x.Faults.KillSessionAsync(c);
                await Ctx.InsertAsync(c);
            },
            x => x.RecoversAsync(Seen.LostConnection, first => x.KillAndProveAsync(first))),

        // The production "server has gone away": the pooled session died while the application was idle.
        ["kill idle pooled sessions"] = new(Both,
            async (x, c) =>
            {
                var session = SessionIdOf(c);
                await c.CloseAsync();
                await ServerSessions.WaitUntilIdleAsync(x.Db.Server, x.Engine, session);
                Assert.True(await x.Faults.KillIdleSessionsAsync() >= 1);
                Assert.DoesNotContain(session, await ServerSessions.OfDatabaseAsync(x.Db.Server, x.Engine, x.Db.Name));
                await c.OpenAsync();
                await Ctx.InsertAsync(c);
            },
            async x =>
            {
                // Pooled connections handed out unchecked, so the dead session reaches the client on MySQL too.
                var cs = UncheckedPool(x.Engine, x.Db.ConnectionString);
                await x.WarmPoolAsync(cs);
                var killed = await x.Faults.KillIdleSessionsAsync();
                Assert.True(killed >= 1, $"the kill ended {killed} idle session(s), expected the ones resting in the pool");
                await x.RecoversAsync(Seen.LostConnection, through: cs);
            }),

        ["kill busy sessions"] = new(Both,
            async (x, c) =>
            {
                var transaction = await c.BeginTransactionAsync();
                await c.ExecuteAsync("INSERT INTO items (tag) VALUES ('open')", transaction);
                var killed = await x.Faults.KillBusySessionsAsync();
                Assert.True(killed == 1, $"killed {killed} busy sessions, expected the one in a transaction");
                await c.ExecuteAsync("INSERT INTO items (tag) VALUES ('lost')", transaction);
            },
            x => x.RecoversAsync(Seen.LostConnection, async first =>
            {
                // A transaction the client began outside the driver's API, then lost with its session.
                await first.ExecuteAsync(x.Engine == DbEngine.PostgreSql ? "BEGIN; INSERT INTO items (tag) VALUES ('open')" : "START TRANSACTION; INSERT INTO items (tag) VALUES ('open')");
                Assert.Equal(1, await x.Faults.KillBusySessionsAsync());
            })),

        // A cancelled statement is the statement's verdict, not a transient fault: nothing retries it, and the
        // session lives on.
        ["cancel query"] = new(Both,
            async (x, c) =>
            {
                var running = c.ScalarAsync(x.SleepSql(10));
                await ServerSessions.WaitUntilRunningAsync(x.Db.Server, x.Engine, SessionIdOf(c));
                await x.Faults.CancelQueryAsync(c);
                await running;
            },
            null),

        ["hold lock (lock timeout)"] = new(Both,
            async (x, c) =>
            {
                await x.ShortLockTimeoutAsync(c);
                await using (await x.Faults.HoldLockAsync("items"))
                {
                    await Ctx.InsertAsync(c);
                }
            },
            async x =>
            {
                var held = await x.Faults.HoldLockAsync("items");
                await x.RecoversAsync(Seen.Transient, liftAfter: held, prepare: x.ShortLockTimeoutAsync);
            }),

        ["idle timeout"] = new(Both,
            async (x, c) =>
            {
                await c.CloseAsync();
                await x.Faults.SetIdleTimeoutAsync(TimeSpan.FromSeconds(1));
                await c.OpenAsync();
                await x.WaitUntilGoneAsync(SessionIdOf(c));
                await Ctx.InsertAsync(c);
            },
            async x =>
            {
                var timeout = await x.Faults.SetIdleTimeoutAsync(TimeSpan.FromSeconds(1));
                await x.RecoversAsync(Seen.LostConnection, first => x.WaitUntilGoneAsync(SessionIdOf(first)), liftAfter: timeout);
            }),

        // MariaDB's idle_transaction_timeout, per database through the kit's settings hook (MySQL 8 has none: the kit's nearest is wait_timeout).
        ["idle in transaction timeout"] = new(Both,
            async (x, c) =>
            {
                await c.CloseAsync();
                await x.Faults.SetIdleInTransactionTimeoutAsync(TimeSpan.FromMilliseconds(300));
                await c.OpenAsync();
                await c.ExecuteAsync("BEGIN");
                await x.WaitUntilGoneAsync(SessionIdOf(c));
                await Ctx.InsertAsync(c);
            },
            async x =>
            {
                var timeout = await x.Faults.SetIdleInTransactionTimeoutAsync(TimeSpan.FromMilliseconds(300));
                await x.RecoversAsync(Seen.LostConnection, async first =>
                {
                    await first.ExecuteAsync("BEGIN");
                    await x.WaitUntilGoneAsync(SessionIdOf(first));
                }, liftAfter: timeout);
            }),

        // Like a cancel: a statement that overran its time is not retried blindly.
        ["statement timeout"] = new(Both,
            async (x, c) =>
            {
                await c.CloseAsync();
                await x.Faults.SetStatementTimeoutAsync(TimeSpan.FromMilliseconds(200));
                await c.OpenAsync();
                await c.ScalarAsync(x.SleepSql(5));
            },
            null),

        ["read-only (failover to a replica)"] = new(Both,
            async (x, c) =>
            {
                await c.CloseAsync();
                await x.Faults.SetReadOnlyAsync();
                await c.OpenAsync();
                await Ctx.InsertAsync(c);
            },
            async x => await x.RecoversAsync(Seen.Transient, liftAfter: await x.Faults.SetReadOnlyAsync())),

        ["exhaust connections"] = new(Both,
            async (x, c) =>
            {
                await c.CloseAsync();
                x.ClearPool(x.Db.ConnectionString); // the open must reach the server
                await x.Faults.ExhaustConnectionsAsync();
                await c.OpenAsync();
            },
            async x => await x.RecoversAsync(Seen.Transient, liftAfter: await x.Faults.ExhaustConnectionsAsync(), firstFromPool: false)),

        ["crash"] = new(Both,
            async (x, c) =>
            {
                await x.Faults.CrashServerAsync();
                await Ctx.InsertAsync(c);
            },
            x => x.RecoversAsync(Seen.LostConnection, _ => x.Faults.CrashServerAsync())),

        ["restart"] = new(Both,
            async (x, c) =>
            {
                await x.Faults.RestartServerAsync();
                await Ctx.InsertAsync(c);
            },
            x => x.RecoversAsync(Seen.LostConnection, _ => x.Faults.RestartServerAsync())),

        ["freeze"] = new(Both,
            async (x, c) =>
            {
                var timed = await x.OpenAsync(x.WithConnectTimeout(x.Db.ConnectionString));
                await x.Faults.FreezeServerAsync();
                await Ctx.InsertAsync(timed, commandTimeout: 1);
            },
            async x => await x.RecoversAsync(Seen.Transient, liftAfter: await x.Faults.FreezeServerAsync(), commandTimeout: 1, firstFromPool: false)),

        ["network reset"] = new(Both,
            async (x, c) =>
            {
                var proxied = await x.OpenAsync(x.Faults.Network.ConnectionString);
                await x.Faults.Network.ResetConnectionsAsync();
                await Ctx.InsertAsync(proxied);
            },
            x => x.RecoversAsync(Seen.LostConnection, async _ =>
            {
                var reset = await x.Faults.Network.ResetConnectionsAsync();
                Assert.True(reset >= 1, $"the reset ended {reset} connections through the proxy, expected the client's");
            }, through: x.Faults.Network.ConnectionString)),

        ["network refuses new connections"] = new(Both,
            async (x, c) =>
            {
                await x.Faults.Network.RefuseNewConnectionsAsync();
                await x.OpenAsync(x.Faults.Network.ConnectionString);
            },
            async x => await x.RecoversAsync(Seen.Transient, liftAfter: await x.Faults.Network.RefuseNewConnectionsAsync(), through: x.Faults.Network.ConnectionString, firstFromPool: false)),

        ["network stall"] = new(Both,
            async (x, c) =>
            {
                var proxied = await x.OpenAsync(x.WithConnectTimeout(x.Faults.Network.ConnectionString));
                await x.Faults.Network.StallAsync();
                await Ctx.InsertAsync(proxied, commandTimeout: 1);
            },
            async x => await x.RecoversAsync(Seen.Transient, liftAfter: await x.Faults.Network.StallAsync(), through: x.Faults.Network.ConnectionString, commandTimeout: 1, firstFromPool: false)),

        ["network cut in a reply"] = new(Both,
            async (x, c) =>
            {
                var proxied = await x.OpenAsync(x.Faults.Network.ConnectionString);
                await x.Faults.Network.CloseAfterBytesAsync(1);
                await proxied.ScalarAsync("SELECT 1");
            },
            async x => await x.RecoversAsync(Seen.Transient, liftAfter: await x.Faults.Network.CloseAfterBytesAsync(1), through: x.Faults.Network.ConnectionString, firstFromPool: false)),

        // The reply to COMMIT is lost after the server committed: only an idempotent write may be retried.
        ["ambiguous commit"] = new(Both,
            async (x, c) =>
            {
                var proxied = await x.OpenAsync(x.Faults.Network.ConnectionString);
                await x.Faults.Network.AmbiguousCommitAsync();
                var transaction = await proxied.BeginTransactionAsync();
                await proxied.ExecuteAsync("INSERT INTO notes (tag) VALUES ('paid')", transaction);
                await transaction.CommitAsync();
            },
            async x =>
            {
                await using (await x.Faults.Network.AmbiguousCommitAsync())
                {
                    await Resilience.AssertRecoversAsync(ct => x.Retry.Pipeline.ExecuteAsync(async t =>
                    {
                        await using var connection = await x.OpenAsync(x.Faults.Network.ConnectionString, t);
                        await using var transaction = await connection.BeginTransactionAsync(t);
                        await connection.ExecuteAsync(x.Engine == DbEngine.PostgreSql
                            ? "INSERT INTO notes (tag) VALUES ('paid') ON CONFLICT DO NOTHING"
                            : "INSERT IGNORE INTO notes (tag) VALUES ('paid')", transaction);
                        await transaction.CommitAsync(t);
                    }, ct).AsTask(), TimeSpan.FromSeconds(15));
                }

                x.Retry.AssertRetriedLostConnection(); // the lost reply reached the client, which retried
                await using var direct = await x.OpenAsync();
                Assert.Equal(1, await direct.CountAsync("notes WHERE tag = 'paid'"));
            }),
    };

    private static string ErrorOf(Exception e) => e switch
    {
        PostgresException pg => pg.SqlState,
        MySqlException { Number: > 0 } my => my.Number.ToString(CultureInfo.InvariantCulture),
        Xunit.Sdk.XunitException failed => "assertion failed: " + failed.Message,
        _ => e.GetType().Name + (e.InnerException is { } inner ? "/" + inner.GetType().Name : ""),
    };

    /// <summary>One lease's view for a scenario.</summary>
    private sealed record Ctx(DbEngine Engine, TestDatabase Db)
    {
        private readonly List<DbConnection> _opened = [];

        public FaultInjector Faults => Db.Faults;

        /// <summary>Empties the driver's pool for one connection string, so the next open reaches the server.</summary>
        public void ClearPool(string cs)
        {
            if (Engine == DbEngine.PostgreSql)
            {
                using var pg = new NpgsqlConnection(cs);
                NpgsqlConnection.ClearPool(pg);
            }
            else
            {
                using var my = new MySqlConnection(cs);
                MySqlConnection.ClearPool(my);
            }
        }


        /// <summary>The naive client's connection whose state is reported: the last one opened (or tried).</summary>
        public DbConnection? Victim { get; private set; }

        /// <summary>Npgsql cancels a timed-out command over a new connection and waits its connect timeout
        /// (15 s by default) for it: a client that wants to notice a stalled server quickly sets it low.</summary>
        public string WithConnectTimeout(string cs) => Engine == DbEngine.PostgreSql ? cs + ";Timeout=2" : cs;

        public async Task DisposeOpenedAsync()
        {
            foreach (var connection in _opened)
            {
                await connection.DisposeAsync();
            }
        }

        public string SleepSql(int seconds) => Engine == DbEngine.PostgreSql ? $"SELECT pg_sleep({seconds})" : $"SELECT SLEEP({seconds})";

        public async Task<DbConnection> OpenAsync(string? cs = null, CancellationToken ct = default)
        {
            var connection = Db.Server.CreateConnection(cs ?? Db.ConnectionString);
            lock (_opened)
            {
                _opened.Add(connection);
            }

            Victim = connection;
            await connection.OpenAsync(ct);
            return connection;
        }

        public static async Task InsertAsync(DbConnection connection, int? commandTimeout = null, CancellationToken ct = default)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "INSERT INTO items (tag) VALUES ('write')";
            if (commandTimeout is { } seconds)
            {
                command.CommandTimeout = seconds;
            }

            await command.ExecuteNonQueryAsync(ct);
        }

        public Task ShortLockTimeoutAsync(DbConnection connection) =>
            connection.ExecuteAsync(Engine == DbEngine.PostgreSql ? "SET lock_timeout = '200ms'" : "SET SESSION lock_wait_timeout = 1");

        /// <summary>Leaves idle sessions in the driver's pool, as an application between requests does.</summary>
        public async Task WarmPoolAsync(string? cs = null)
        {
            await using var a = await OpenAsync(cs);
            await using var b = await OpenAsync(cs);
        }

        /// <summary>The resilient client's retry policy, this scenario's own: it counts what it retried.</summary>
        public CountingRetry Retry { get; } = new(maxRetryAttempts: 12, delay: TimeSpan.FromMilliseconds(25), maxDelay: TimeSpan.FromMilliseconds(500));

        /// <summary>Kills the session behind <paramref name="connection"/> and proves the server ended it.</summary>
        public async Task KillAndProveAsync(DbConnection connection)
        {
            var session = SessionIdOf(connection);
            await Faults.KillSessionAsync(connection);
            await WaitUntilGoneAsync(session);
        }

        public Task WaitUntilGoneAsync(long session) => ServerSessions.WaitUntilGoneAsync(Db.Server, Engine, session);

        /// <summary>
        /// The resilient client: Polly retrying on DbErrors.IsTransient, each attempt on a pooled connection.
        /// Its first attempt runs on a connection opened before the fault, which <paramref name="hit"/> breaks;
        /// a lasting fault (<paramref name="liftAfter"/>) ends once the client has met it (its first retried
        /// error), as a failover ends while clients retry. Then it proves the fault reached the client: at
        /// least one retried error is of the kind <paramref name="seen"/> names.
        /// </summary>
        public async Task RecoversAsync(
            Seen seen, Func<DbConnection, Task>? hit = null, IAsyncDisposable? liftAfter = null, Func<DbConnection, Task>? prepare = null,
            string? through = null, int? commandTimeout = null, bool firstFromPool = true)
        {
            var cs = commandTimeout is null ? through ?? Db.ConnectionString : WithConnectTimeout(through ?? Db.ConnectionString);
            if (!firstFromPool)
            {
                ClearPool(cs); // every attempt must reach the server through the fault
            }

            DbConnection? first = firstFromPool ? await OpenAsync(cs) : null;
            if (first is not null && hit is not null)
            {
                await hit(first);
            }

            var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var lifting = liftAfter is null ? Task.CompletedTask : LiftOnceMetAsync(liftAfter, ended.Task);
            try
            {
                await Resilience.AssertRecoversAsync(ct => Retry.Pipeline.ExecuteAsync(async t =>
                {
                    var connection = Interlocked.Exchange(ref first, null) ?? await OpenAsync(cs, t);
                    await using (connection)
                    {
                        if (prepare is not null)
                        {
                            await prepare(connection);
                        }

                        await InsertAsync(connection, commandTimeout, t);
                    }
                }, ct).AsTask(), TimeSpan.FromSeconds(20));
            }
            finally
            {
                ended.TrySetResult();
                await lifting;
                if (first is not null)
                {
                    await first.DisposeAsync();
                }
            }

            if (seen == Seen.LostConnection)
            {
                Retry.AssertRetriedLostConnection();
            }
            else
            {
                Retry.AssertRetriedTransient();
            }
        }

        /// <summary>Lifts the fault once the client has retried its first error, or once the operation ended
        /// (then the assertion after it says the fault never reached the client).</summary>
        private async Task LiftOnceMetAsync(IAsyncDisposable fault, Task ended)
        {
            await Task.WhenAny(Retry.FirstRetry, ended);
            await fault.DisposeAsync();
        }
    }
}
