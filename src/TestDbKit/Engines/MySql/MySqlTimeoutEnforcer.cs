using System.Data.Common;
using System.Globalization;
using Microsoft.Extensions.Logging;
using MySqlConnector;

namespace TestDbKit.Engines;

/// <summary>
/// Makes a per-database timeout on MySQL/MariaDB hold whatever the client resets. The kit's settings hook gives new
/// sessions of the test database the short timeout (<see cref="MySqlSessionSettings"/>), but MySqlConnector's default
/// <c>ConnectionReset=true</c> sends <c>COM_RESET_CONNECTION</c> when it hands a pooled session out again, which puts
/// the session's variables back to the global values, and <c>init_connect</c> does not run again: the reused session
/// would never time out. While the fault lasts this watcher polls, on an administrator's connection of its own, the
/// sessions of the test database that log in as the test user (<c>information_schema.PROCESSLIST</c>, MariaDB's
/// <c>TIME_MS</c> for precision) and ends those that outstay the timeout, as the server would have:
/// <list type="bullet">
/// <item>idle: a session idle (<c>Sleep</c>) longer than the timeout, in a transaction or not, as <c>wait_timeout</c>
/// does: <c>KILL CONNECTION</c>;</item>
/// <item>idle in a transaction (MariaDB): a session idle longer than the timeout that holds a transaction
/// (<c>INNODB_TRX</c> on <c>trx_mysql_thread_id</c>, and on the kit's MariaDB servers the transaction-long table locks of
/// <c>METADATA_LOCK_INFO</c>, read live): <c>KILL CONNECTION</c>. A transaction that has touched no table yet is not
/// visible and is not ended. On MySQL 8 this fault is <c>wait_timeout</c> (see <see cref="MySqlSessionSettings"/>), so
/// it is enforced as idle;</item>
/// <item>statement: a statement running longer than the limit (MariaDB: any statement; MySQL 8: SELECTs, as
/// <c>max_execution_time</c>): <c>KILL QUERY</c> (MariaDB: <c>KILL QUERY ID</c> of that very statement, so a later
/// statement of the session is never hit).</item>
/// </list>
/// The watcher acts a little after the server itself would (a grace of a poll, at least 0.2 s), so a session that kept its
/// setting meets the server's own error; a reset one meets the kill's. What the client sees then (MariaDB 10.11,
/// MySqlConnector, measured): for the idle kinds a lost connection either way (the server's own timeout: a
/// <c>SocketException</c> "Connection reset by peer"; the kill: "Failed to read the result set" over an end of stream;
/// 1927 "Connection was killed" is listed too), which <see cref="DbErrors.IsConnectionLost"/> says; for statements 1317 "Query execution was interrupted" instead of the server's 1969 (MySQL 8: 3024), neither
/// lost nor transient, like PostgreSQL's 57014 (the session lives on). It polls every quarter of the timeout (between
/// 0.1 s and 5 s), never touches another database's sessions or the administrator's (the kit's own), stops by itself
/// when the database's setting is gone (undone, or the database dropped), and never throws: what goes wrong (the server
/// down, a refused kill) is logged, once per outage, with what to do.
/// </summary>
internal sealed class MySqlTimeoutEnforcer : IAsyncDisposable
{
    private static readonly TimeSpan MinInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxInterval = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan StopPatience = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MinGrace = TimeSpan.FromMilliseconds(200);

    private readonly TimeoutEnforcement _request;
    private readonly ServerFlavour _flavour;
    private readonly string _connectionString;
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;
    private int _disposed;

    private MySqlTimeoutEnforcer(TimeoutEnforcement request, ServerFlavour flavour)
    {
        _request = request;
        _flavour = flavour;
        // Pooling off: the watcher's one session is its own, and a pool cleared by a test never takes it away.
        var builder = new MySqlConnectionStringBuilder(MySqlDialect.Instance.ForProbe(request.AdminConnectionString, TimeSpan.FromSeconds(5)))
        {
            Database = "",
            DefaultCommandTimeout = 10,
            ApplicationName = "testdbkit-enforcer",
        };
        _connectionString = builder.ConnectionString;
        Interval = IntervalFor(request.Timeout);
        Threshold = ThresholdFor(flavour, request.Kind, request.Timeout) + GraceFor(Interval);
    }

    /// <summary>How often the sessions are read: a quarter of the timeout, between 0.1 s and 5 s.</summary>
    public TimeSpan Interval { get; }

    /// <summary>How long a session may stay idle (or a statement run) before the watcher ends it: what the server
    /// itself applies, plus a grace (<see cref="GraceFor"/>).</summary>
    public TimeSpan Threshold { get; }

    /// <summary>Completes when the watcher has stopped (disposed, or the setting is gone); never faults.</summary>
    public Task Stopped => _loop;

    /// <summary>How many sessions (or statements) it ended so far.</summary>
    public int Ended => _ended;

    private int _ended;

    /// <summary>How much later than the server the watcher acts: a poll, at least 0.2 s, so that a session that kept
    /// its setting meets the server's own error (1969, not the watcher's 1317) even on a loaded machine.</summary>
    internal static TimeSpan GraceFor(TimeSpan interval) => interval > MinGrace ? interval : MinGrace;

    internal static TimeSpan IntervalFor(TimeSpan timeout) =>
        TimeSpan.FromTicks(Math.Clamp(timeout.Ticks / 4, MinInterval.Ticks, MaxInterval.Ticks));

    /// <summary>What the server applies for <paramref name="timeout"/>: whole seconds, rounded up, for the idle kinds
    /// (<c>wait_timeout</c>, <c>idle_transaction_timeout</c>), milliseconds for statements.</summary>
    internal static TimeSpan ThresholdFor(ServerFlavour flavour, TimeoutKind kind, TimeSpan timeout) => EffectiveKind(flavour, kind) == TimeoutKind.Statement
        ? TimeSpan.FromMilliseconds(Math.Max(1, Math.Ceiling(timeout.TotalMilliseconds)))
        : TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling(timeout.TotalSeconds - 1e-9)));

    /// <summary>MySQL 8 has no idle-in-transaction timeout: the kit gives it <c>wait_timeout</c>, enforced as idle.</summary>
    private static TimeoutKind EffectiveKind(ServerFlavour flavour, TimeoutKind kind) =>
        kind == TimeoutKind.IdleInTransaction && flavour.Kind != ServerKind.MariaDb ? TimeoutKind.Idle : kind;

    /// <summary>Starts watching; fails (and starts nothing) when the server cannot be reached or asked.</summary>
    public static async Task<MySqlTimeoutEnforcer> StartAsync(TimeoutEnforcement request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        EngineDialect.Validated(request.Database);
        EngineDialect.Validated(request.User);
        ServerFlavour flavour;
        await using (var admin = await MySqlDialect.Instance.OpenAsync(request.AdminConnectionString, ct).ConfigureAwait(false))
        {
            flavour = await MySqlModule.Instance.FlavourOfAsync(admin, ct).ConfigureAwait(false);
        }

        var enforcer = new MySqlTimeoutEnforcer(request, flavour);
        enforcer._loop = Task.Run(enforcer.RunAsync, CancellationToken.None);
        return enforcer;
    }

    /// <summary>The sessions to end now: (id, query id) of those over the threshold.</summary>
    internal string VictimsSql
    {
        get
        {
            var ms = ((long)Math.Ceiling(Threshold.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture);
            var mariaDb = _flavour.Kind == ServerKind.MariaDb;
            var elapsed = mariaDb ? "TIME_MS" : "TIME * 1000";
            var sql = $"SELECT ID, {(mariaDb ? "QUERY_ID" : "0")} FROM information_schema.PROCESSLIST WHERE DB = '{_request.Database}' " +
                $"AND USER = '{_request.User}' AND ID <> CONNECTION_ID() AND {elapsed} > {ms}";
            return sql + EffectiveKind(_flavour, _request.Kind) switch
            {
                TimeoutKind.Idle => " AND COMMAND = 'Sleep'",
                TimeoutKind.IdleInTransaction => " AND COMMAND = 'Sleep' AND ID IN (SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX" +
                    (_flavour.ListsLocksLive
                        ? " UNION SELECT THREAD_ID FROM information_schema.METADATA_LOCK_INFO WHERE LOCK_DURATION = 'MDL_TRANSACTION')"
                        : ")"),
                _ => " AND COMMAND IN ('Query', 'Execute')" + (_flavour.StatementTimeoutCoversAll ? "" : " AND UPPER(TRIM(INFO)) LIKE 'SELECT%'"),
            };
        }
    }

    /// <summary>Whether the database still has the setting the watcher enforces (the fault was not undone elsewhere,
    /// the database not dropped).</summary>
    private string StillSetSql =>
        $"SELECT COUNT(*) FROM {MySqlSessionSettings.Table} WHERE database_name = '{_request.Database}' " +
        $"AND {MySqlSessionSettings.ColumnOf(_request.Kind)} IS NOT NULL";

    private string KillSql(long id, long queryId) => EffectiveKind(_flavour, _request.Kind) == TimeoutKind.Statement
        ? queryId > 0 ? $"KILL QUERY ID {queryId}" : $"KILL QUERY {id}"
        : $"KILL CONNECTION {id}";

    private string What => $"the {_request.Kind} timeout of {_request.Database} ({_request.Timeout.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture)} ms)";

    private async Task RunAsync()
    {
        Sessions.TestOutput.Enter(_request.Output);
        var stop = _stop.Token;
        MySqlConnection? admin = null;
        var failingSince = (DateTime?)null;
        var failures = 0;
        var delay = Interval;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    if (admin is null)
                    {
                        admin = new MySqlConnection(_connectionString);
                        await admin.OpenAsync(stop).ConfigureAwait(false);
                    }

                    if (Convert.ToInt64(await admin.ScalarAsync(StillSetSql, stop).ConfigureAwait(false), CultureInfo.InvariantCulture) == 0)
                    {
                        Say(LogLevel.Debug, $"Stopped enforcing {What}: the setting is gone (undone, or the database dropped).");
                        return;
                    }

                    var victims = await admin.ReadColumnAsync(VictimsSql,
                        r => (Id: Convert.ToInt64(r.GetValue(0), CultureInfo.InvariantCulture), Query: Convert.ToInt64(r.GetValue(1), CultureInfo.InvariantCulture)),
                        stop).ConfigureAwait(false);
                    foreach (var (id, query) in victims)
                    {
                        try
                        {
                            await admin.ExecuteAsync(KillSql(id, query), stop).ConfigureAwait(false);
                            Interlocked.Increment(ref _ended);
                        }
                        catch (MySqlException e) when (e.Number == 1094)
                        {
                            // Unknown thread (or query) id: it ended on its own between the list and the kill.
                        }
                    }

                    if (failingSince is { } since)
                    {
                        Say(LogLevel.Information, $"Enforcing {What} again, after {failures} failed attempt(s) since {since:HH:mm:ss} UTC.");
                        failingSince = null;
                        failures = 0;
                    }

                    delay = Interval;
                }
                catch (Exception e) when (!stop.IsCancellationRequested && e is not OutOfMemoryException)
                {
                    failures++;
                    if (failingSince is null)
                    {
                        failingSince = DateTime.UtcNow;
                        Say(LogLevel.Warning,
                            $"Could not enforce {What} on MySqlConnector-reset sessions: {e.GetType().Name}: {Diagnostics.Secrets.Redact(e.Message, MySqlDialect.Instance.PasswordOf(_connectionString))}. " +
                            "Sessions reused from MySqlConnector's pool may outlive the timeout meanwhile (the fault may not happen); the kit keeps " +
                            "trying. If the server is down, that is the failure to look at; otherwise check that the administrator may read " +
                            "information_schema.PROCESSLIST and run KILL.");
                    }

                    if (admin is not null)
                    {
                        await admin.DisposeAsync().ConfigureAwait(false);
                        admin = null;
                    }

                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxInterval.Ticks)); // a server that is down is not hammered
                }

                try
                {
                    await Task.Delay(delay, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
        catch (Exception) when (stop.IsCancellationRequested)
        {
            // Stopped while asking the server (the driver reports a cancelled command as OperationCanceledException,
            // or as the interrupted query it is).
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Say(LogLevel.Warning, $"Stopped enforcing {What} after an unexpected error: {e}");
        }
        finally
        {
            if (admin is not null)
            {
                await admin.DisposeAsync().ConfigureAwait(false);
            }

            if (failingSince is { } since)
            {
                Say(LogLevel.Warning, $"Enforcing {What} was failing from {since:HH:mm:ss} UTC until it stopped ({failures} failed attempt(s)).");
            }
        }
    }

    /// <summary>Logs through the kit's logger (which copies information and warnings to the test's output); a warning
    /// with no test output goes to standard error, so it is never lost.</summary>
    private void Say(LogLevel level, string message)
    {
        if (_request.Logger.IsEnabled(level))
        {
            _request.Logger.Log(level, new EventId(140, "TimeoutEnforcer"), message, null, (m, _) => m);
        }
        else if (level >= LogLevel.Warning)
        {
            Sessions.TestOutput.Write(_request.Output, $"{level}: {message}");
        }
    }

    /// <summary>Stops watching and waits (up to 10 s) for the watcher to end; never throws.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.WaitAsync(StopPatience).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Say(LogLevel.Warning, $"The watcher enforcing {What} did not stop within {StopPatience.TotalSeconds} s; it ends on its own when the server answers.");
            return; // the loop still owns the token source
        }

        _stop.Dispose();
    }
}
