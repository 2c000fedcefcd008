using System.Data;
using System.Data.Common;
using System.Text;

namespace TestDbKit.Sessions;

/// <summary>
/// One test's database session: leases the test a database, hands it a connection proven alive, and
/// at the end judges what the test left behind (a broken or killed connection, leaked connections),
/// discards what is unsafe, and gives the database back clean. Both adapters drive this class; it
/// knows no test framework.
/// </summary>
internal sealed class TestSession
{
    private readonly SessionOptions _options;
    private DbConnection _connection;
    private readonly object _gate = new();
    private bool _used;

    // Connections of this database's pools already out when the test started: leaks of earlier tests,
    // whose connection objects the kit could not close (their sessions were ended, the objects live on).
    private readonly long _outBefore;

    // The test this session serves, as its body sees it (null when it was started without Begin); ended with the session.
    private TestIdentity? _identity;

    private TestSession(SessionOptions options, TestDatabase database, DbConnection connection, long generation, long outBefore)
    {
        _options = options;
        Database = database;
        _connection = connection;
        Generation = generation;
        _outBefore = outBefore;
    }

    public TestDatabase Database { get; }

    /// <summary>Whether the database is emptied after the test ended rather than before (true, the default): the
    /// server resets it while the client runs the next test on another ready database, and the lease's place comes
    /// back only once it is clean. False for the benchmark's comparison.</summary>
    internal static bool ResetInBackground { get; set; } = true;

    /// <summary>The <see cref="ConnectionReset.Generation"/> the connection was opened in.</summary>
    public long Generation { get; private set; }

    /// <summary>Starts the session of a test of a base class: makes the test <see cref="CurrentTest"/> for the adapter's
    /// flow (this is not an async method, so the value outlives the call and reaches the test body), then starts it.
    /// Adapters call this from the synchronous part of their setup, never from inside an async method.</summary>
    public static Task<TestSession> Begin(SessionOptions options, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(options);
        var test = CurrentTest.Enter(options.TestName, options.Engine);
        var starting = StartAsync(options, ct);
        // A start that fails leaves no session to end the test: end it here, or later work in this flow (the framework
        // may run another test on it) would be stamped with this test.
        _ = starting.ContinueWith(static (_, t) => ((TestIdentity)t!).End(), test, CancellationToken.None,
            TaskContinuationOptions.NotOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return starting;
    }

    public static async Task<TestSession> StartAsync(SessionOptions options, CancellationToken ct)
    {
        TestOutput.Enter(options.Output); // what the kit says while it starts the session is this test's
        var since = SessionTrace.Start();
        if (options.ResetConnectionBefore)
        {
            ConnectionReset.ClearAllPools();
        }

        var pool = await PoolRegistry.GetAsync(options.Engine, options.SchemaKey, options.CreateSchema, options.Isolation, options.Pool, options.Server, ct).ConfigureAwait(false);
        SessionTrace.Lap("start: pool look-up", ref since);
        return await StartAsync(options, pool, ct).ConfigureAwait(false);
    }

    /// <summary>Starts a session on a database of <paramref name="pool"/>.</summary>
    public static async Task<TestSession> StartAsync(SessionOptions options, DatabasePool pool, CancellationToken ct)
    {
        TestOutput.Enter(options.Output);
        var since = SessionTrace.Start();
        var database = await pool.LeaseAsync(options.ShapeConnectionString, options.Output, ct).ConfigureAwait(false);
        SessionTrace.Lap("start: lease", ref since);
        try
        {
            var generation = ConnectionReset.Generation;
            var outBefore = database.ConnectionsInUse;
            var connection = await OpenHealthyAsync(database, ct).ConfigureAwait(false);
            SessionTrace.Lap("start: open, prove alive", ref since);
            Diagnostics.RunLog.SessionStarted(); // ended in EndAsync, however it ends: the run report is written when none is left open
            var session = new TestSession(options, database, connection, generation, outBefore) { _identity = CurrentTest.Value is { } test && test.Name == options.TestName ? test : null };
            database.Session = session;
            return session;
        }
        catch
        {
            await database.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// The connection the test should use now. When a <c>[ResetConnection]</c> ran after the connection was
    /// opened but before the test first used it (xunit runs the attribute after <c>InitializeAsync</c>), it
    /// is replaced by one on a new server session. Once the test has it, it stays: a reset in a test running
    /// beside this one must not swap the connection (and its transaction) under this test's feet. This is
    /// the one place the kit opens a connection synchronously: a property getter cannot await, and both
    /// drivers open synchronously without blocking on async work. Faults call it too before they act
    /// (<see cref="FaultInjector"/>), so that a kill or a setting reaches the connection the test is about to
    /// use rather than one opened after it.
    /// </summary>
    public DbConnection CurrentConnection()
    {
        lock (_gate)
        {
            return CurrentConnectionLocked();
        }
    }

    private DbConnection CurrentConnectionLocked()
    {
        if (_used || Generation == ConnectionReset.Generation)
        {
            _used = true;
            return _connection;
        }

        _used = true;
        _connection.Dispose();
        Database.Server.Dialect.ClearPool(Database.ConnectionString);
        Generation = ConnectionReset.Generation;
        _connection = Database.OpenConnectionSync();
        return _connection;
    }

    /// <summary>
    /// Ends the test's use of the database. Never throws for the test's own breakage (that is the test's
    /// result to report); throws <see cref="ConnectionLeakException"/> only when leaks fail tests.
    /// </summary>
    public async Task<SessionReport> EndAsync(CancellationToken ct)
    {
        TestOutput.Enter(_options.Output); // what the kit says while it cleans up (and resets the database) is this test's
        try
        {
            return await EndCoreAsync(ct).ConfigureAwait(false);
        }
        finally
        {
            _identity?.End();
            Diagnostics.RunLog.SessionEnded();
        }
    }

    private async Task<SessionReport> EndCoreAsync(CancellationToken ct)
    {
        var report = new SessionReport(_options.TestName);
        var since = SessionTrace.Start();
        try
        {
            // A connection whose session died is never returned to the pool, and neither are its siblings:
            // if the server side died for one, idle ones in the same pool may be dead too.
            var state = _connection.State;
            if (state != ConnectionState.Open || !await Database.Server.Dialect.IsAliveAsync(_connection, ct).ConfigureAwait(false))
            {
                report.ConnectionDiscarded = true;
                report.ClosedByTest = state == ConnectionState.Closed; // Broken is the driver's word for a lost session
                Database.MarkSessionsLost(); // its siblings in pools the kit cannot clear may be dead too
                Database.Server.Dialect.ClearPool(Database.ConnectionString);
            }

            SessionTrace.Lap("end: prove alive", ref since);
            await _connection.DisposeAsync().ConfigureAwait(false);
            report.LeakedConnections = await Database.CloseLeakedConnectionsAsync(except: _connection).ConfigureAwait(false);

            // Connections the test opened itself (new XConnection(Database.ConnectionString)) and left open are
            // still out of the driver's pool. The kit cannot close them, but it can end their sessions.
            var opened = Database.ConnectionsInUse - _outBefore;

            // One clear for everything that must not be reused: siblings of a dead connection, connections
            // opened before an [ResetConnection(After = true)] that ran while the test held one, leaked ones
            // the kit just closed, and (before ending leaked sessions) the idle ones, so that every session
            // left on the database is a leaked one.
            if (report.ConnectionDiscarded || Generation != ConnectionReset.Generation || report.LeakedConnections > 0 || opened > 0)
            {
                Database.Server.Dialect.ClearPool(Database.ConnectionString);
            }

            if (opened > 0)
            {
                report.LeakedConnections += (int)opened;
                report.OpenedByTest = (int)opened;
                try
                {
                    report.SessionsEnded = await Database.EndSessionsAsync(Engines.SessionFilter.All, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is DbException or InvalidOperationException or IOException or System.Net.Sockets.SocketException)
                {
                    report.CleanupError = $"could not end the leaked sessions ({e.GetType().Name}: {e.Message})";
                }
            }
        }
        finally
        {
            SessionTrace.Lap("end: close, leak check", ref since);
            await Database.GiveBackAsync(ResetInBackground).ConfigureAwait(false);
            since = SessionTrace.Start();
        }

        Diagnostics.RunLog.TestEnded(report.ConnectionDiscarded, report.LeakedConnections, report.LeakedConnections > 0 ? report.ToString() : null);
        if (!report.IsClean)
        {
            // The test's own output shows what it left behind (the run report has it too, above).
            TestOutput.Write(_options.Output, report.ToString());
        }

        SessionTrace.Lap("end: report", ref since);
        if (report.LeakedConnections > 0 && _options.FailOnLeak)
        {
            throw new ConnectionLeakException(report.ToString());
        }

        return report;
    }

    private static async Task<DbConnection> OpenHealthyAsync(TestDatabase database, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            var connection = await database.OpenConnectionAsync(ct).ConfigureAwait(false);
            if (await database.Server.Dialect.IsAliveAsync(connection, ct).ConfigureAwait(false))
            {
                return connection;
            }

            // A pooled session died since it was last used (killed, timed out, server restarted):
            // drop it and its siblings, then open a new one; siblings in other pools go when the lease ends.
            database.MarkSessionsLost();
            await connection.DisposeAsync().ConfigureAwait(false);
            database.Server.Dialect.ClearPool(database.ConnectionString);
            if (attempt == 3)
            {
                throw new InvalidOperationException(
                    $"Could not open a live connection to {database.Name} on {database.Server} after 3 attempts. " +
                    "The server may be restarting or refusing connections; check its log.");
            }
        }
    }
}

/// <summary>What a test left behind, as the session found it.</summary>
internal sealed class SessionReport(string testName)
{
    public string TestName { get; } = testName;

    public bool ConnectionDiscarded { get; set; }

    /// <summary>The discarded connection was closed (the test closed or disposed the kit's <c>Connection</c>), not lost.</summary>
    public bool ClosedByTest { get; set; }

    public int LeakedConnections { get; set; }

    /// <summary>How many of the leaked connections the test opened itself rather than through the kit.</summary>
    public int OpenedByTest { get; set; }

    /// <summary>Server sessions the kit ended because a connection the test opened was left open.</summary>
    public int SessionsEnded { get; set; }

    /// <summary>What went wrong while cleaning up, if anything.</summary>
    public string? CleanupError { get; set; }

    public bool IsClean => !ConnectionDiscarded && LeakedConnections == 0 && CleanupError is null;

    public override string ToString()
    {
        var text = new StringBuilder($"{TestName}:");
        var invariant = System.Globalization.CultureInfo.InvariantCulture;
        if (LeakedConnections > 0)
        {
            text.Append(invariant, $" left {LeakedConnections} connection(s) open (server sessions)");
            if (OpenedByTest > 0)
            {
                text.Append(invariant, $", {OpenedByTest} of them opened by the test itself; the kit closed those it handed out and ended {SessionsEnded} leftover server session(s).");
            }
            else
            {
                text.Append("; the kit closed them.");
            }

            text.Append(" Dispose connections with 'await using'.");
        }

        if (CleanupError is not null)
        {
            text.Append(' ').Append(CleanupError).Append('.');
        }

        if (ConnectionDiscarded)
        {
            text.Append(ClosedByTest
                ? " it closed or disposed the kit's Connection; the next test gets a new one. Leave it open: the kit owns and disposes it (a connection of the test's own comes from Database.OpenConnectionAsync)."
                : " its connection was broken or killed; it was discarded and its pool cleared.");
        }

        return text.ToString();
    }
}
