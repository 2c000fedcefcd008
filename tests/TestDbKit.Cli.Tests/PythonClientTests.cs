using System.Text.Json;

namespace TestDbKit.Cli.Tests;

/// <summary>
/// The tool as a Python project uses it: tests/python/scenarios.py (Debian's /usr/bin/python3 with SQLAlchemy 1.4,
/// PyMySQL and psycopg2) starts <c>testdbkit serve --json --database py</c>, connects with the URL it prints, breaks
/// the connection with <c>testdbkit fault</c> or <c>testdbkit chaos</c>, and reports what SQLAlchemy did. Each test
/// first checks the premise the script observed (the timeout read back from the session, the server-side session
/// gone), then the client's behaviour. Local provider, both engines.
/// </summary>
public sealed class PythonClientTests
{
    public static TheoryData<string> Engines => new() { "postgres", "mysql" };

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task The_default_pool_hands_out_a_connection_the_idle_fault_killed_and_fails_with_the_drivers_disconnect_error(string engine)
    {
        var run = await PythonScenario.RunAsync("idle-default-pool", engine);

        ExpectIdleFaultKilledThePooledSession(run, engine);
        run.Expect(run.Text("secondCheckout.error.type") == "sqlalchemy.exc.OperationalError",
            "the default pool (no pre-ping) should hand out the dead connection, and the query on it fail with OperationalError");
        run.Expect(run.Text("secondCheckout.error.connectionInvalidated") == "true", "SQLAlchemy should see the error as a disconnect");
        ExpectDisconnectError(run, "secondCheckout.error", engine);
        run.Expect(run.Text("thirdCheckout.error") is null && run.Number("thirdCheckout.session") is { } third && third != run.Number("premise.session"),
            "after the disconnect error SQLAlchemy invalidates the pool, so the next checkout should be a new session");
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task Pool_pre_ping_replaces_the_connection_the_idle_fault_killed(string engine)
    {
        var run = await PythonScenario.RunAsync("idle-pre-ping", engine);

        ExpectIdleFaultKilledThePooledSession(run, engine);
        run.Expect(run.Text("secondCheckout.error") is null, "with pool_pre_ping=True the checkout after the idle timeout should succeed");
        run.Expect(run.Number("secondCheckout.session") is { } second && second != run.Number("premise.session"),
            "the pre-ping should have replaced the dead connection with a new server session");
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task A_session_killed_in_a_transaction_cannot_reconnect_until_rollback(string engine)
    {
        var run = await PythonScenario.RunAsync("kill-in-transaction", engine);

        run.Expect(run.Text("fault.started.event") == "started" && run.Text("fault.ended.event") == "ended",
            "testdbkit fault kill --json should print a started and an ended line");
        run.Expect(run.Text("fault.ended.target") == "tdk_py" && run.Number("fault.ended.count") >= 1,
            "the kill should have targeted tdk_py and killed at least one session");
        ExpectRollbackNeededThenRecovered(run, engine);
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task A_transaction_ended_by_the_idle_in_transaction_fault_cannot_reconnect_until_rollback(string engine)
    {
        var run = await PythonScenario.RunAsync("idle-in-transaction", engine);

        run.Expect(run.Text("fault.started.fault") == "idle-in-transaction" && run.Text("fault.ended.event") == "ended" && run.Number("fault.exitCode") == 0,
            "testdbkit fault idle-in-transaction should print started, then ended once stopped, and exit 0");
        run.Expect(run.Text("premise.timeout") == (engine == "mysql" ? "1" : "1s"),
            "a session opened while the fault is in effect should read back the 1 s idle-in-transaction timeout");
        ExpectRollbackNeededThenRecovered(run, engine);
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task Chaos_on_one_database_streams_a_json_line_per_fault_start_and_end_then_its_summary(string engine)
    {
        var run = await PythonScenario.RunAsync("chaos", engine);

        run.Expect(run.Number("chaos.exitCode") == 0, "testdbkit chaos should exit 0");
        var lines = run.At("chaos.lines").EnumerateArray().ToList();
        run.Expect(lines.Count >= 3, "chaos --json should print at least one started and one ended line, then its summary");
        var events = lines[..^1];
        run.Expect(events.All(e => e.TryGetProperty("event", out var kind) && kind.GetString() is "started" or "ended"),
            "every line before the summary should be a started or ended event (no failed one)");
        run.Expect(!lines[^1].TryGetProperty("event", out _), "the last line should be the summary object, not an event");
        run.Expect(events.All(e => e.GetProperty("target").GetString() == run.Text("database")),
            "with --database every fault should target that database alone");
        run.Expect(events.All(e => e.GetProperty("fault").GetString() is "kill" or "idle"), "only the faults asked for (kill, idle) should run");

        // Each fault's lines come in pairs: started, then ended, before the next one starts.
        var pairs = events.Chunk(2).ToList();
        run.Expect(pairs.All(p => p.Length == 2 && p[0].GetProperty("event").GetString() == "started" && p[1].GetProperty("event").GetString() == "ended"
                && p[0].GetProperty("fault").GetString() == p[1].GetProperty("fault").GetString()),
            "each fault should print its started line, then its ended line, before the next fault starts");

        // The premise of the workload's view: the kills reached its database (it needed new sessions).
        var kills = events.Count(e => e.GetProperty("event").GetString() == "ended" && e.GetProperty("fault").GetString() == "kill"
            && e.GetProperty("count") is { ValueKind: JsonValueKind.Number } count && count.GetInt32() > 0);
        run.Expect(kills == 0 || run.Number("workload.sessions") >= 2, "a kill that ended sessions of the database should have made the pool open new ones");
        run.Expect(run.Number("workload.queries") > 0, "the pre-ping pool should have kept answering during the chaos run");
        run.Expect(run.Text("afterChaos.error") is null, "a new checkout after the chaos run should work");
    }

    /// <summary>
    /// Django (Debian 12's 3.2, over psycopg2 or MySQLdb) with persistent connections: CONN_MAX_AGE (60 s) above the
    /// server's idle timeout (the idle fault's 1 s). Django's own per-request close_old_connections() only closes a
    /// connection that errored or outlived CONN_MAX_AGE, so the request after an idle spell fails with the driver's
    /// "gone away" / "closed the connection" error, and only the request after it works. A health check at the start
    /// of each request (CONN_HEALTH_CHECKS=True on Django 4.1+; on 3.2 a request_started receiver calling is_usable())
    /// makes the first request after the idle spell work.
    /// </summary>
    [Theory]
    [MemberData(nameof(Engines))]
    public async Task Django_with_CONN_MAX_AGE_above_the_idle_timeout_fails_a_request_until_a_health_check_recovers(string engine)
    {
        var run = await PythonScenario.RunAsync("django", engine);

        // The premise: the fault was in effect for the request's session, Django kept that session after the request,
        // and the server ended it while it idled.
        run.Expect(run.Text("fault.started.event") == "started" && run.Text("fault.started.fault") == "idle" && run.Text("fault.started.target") == "tdk_py",
            "testdbkit fault idle --json should print its started line for tdk_py");
        run.Expect(run.Text("premise.timeout") == (engine == "mysql" ? "1" : "1s"), "the request's session should read back the idle fault's 1 s timeout");
        run.Expect(run.Text("premise.keptAfterRequest") == "true", "with CONN_MAX_AGE=60 Django should keep the connection open after the request");
        run.Expect(run.Number("premise.goneAfterSeconds") is not null, "the server should have ended the idle persistent connection's session");

        // The consequence with Django's defaults.
        run.Expect(run.Text("secondRequest.error.type") == "django.db.utils.OperationalError",
            "the next request should fail with django.db.utils.OperationalError: close_old_connections() at request start does not check the connection");
        var message = run.Text("secondRequest.error.driver.message") ?? "";
        if (engine == "mysql")
        {
            run.Expect(run.Number("secondRequest.error.driver.errno") is 2006 or 2013 && message.Contains("gone away", StringComparison.OrdinalIgnoreCase)
                    || message.Contains("Lost connection", StringComparison.Ordinal),
                "MySQLdb should report 2006 \"server has gone away\" (or 2013 \"Lost connection\")");
        }
        else
        {
            run.Expect(message.Contains("server closed the connection unexpectedly", StringComparison.Ordinal), "psycopg2 should report \"server closed the connection unexpectedly\"");
        }

        run.Expect(run.Text("closedAfterError") == "true", "close_old_connections() at the failed request's end should close the errored connection");
        run.Expect(run.Text("thirdRequest.error") is null && run.Number("thirdRequest.session") is { } third && third != run.Number("premise.session"),
            "the request after the failed one should work, on a new session");

        // The health check: the first request after the next idle spell works.
        run.Expect(run.Number("healthCheck.goneAfterSeconds") is not null, "the server should have ended the session again before the checked request");
        run.Expect(run.Text("healthCheck.second.error") is null && run.Number("healthCheck.second.session") is { } checkedSession && checkedSession != run.Number("healthCheck.first.session"),
            "with the health check at request start, the first request after the idle spell should work on a new session");
    }

    [Fact]
    public async Task A_missing_python_module_fails_naming_its_debian_package_and_the_set_up_script()
    {
        // -S: no site module, so Debian's dist-packages (where python3-sqlalchemy lives) are not on the path.
        var error = await Assert.ThrowsAsync<PythonScriptException>(() => PythonScenario.RunAsync("idle-default-pool", "postgres", "-S"));

        Assert.Contains("python3-sqlalchemy", error.Message, StringComparison.Ordinal);
        Assert.Contains("scripts/install-servers.sh", error.Message, StringComparison.Ordinal);
    }

    /// <summary>The premise of the idle scenarios: the fault's line said it was in effect, a session opened then read
    /// back the 1 s timeout, the server ended that session while it lay in the pool, and the fault was undone.</summary>
    private static void ExpectIdleFaultKilledThePooledSession(PythonScenario run, string engine)
    {
        run.Expect(run.Text("fault.started.event") == "started" && run.Text("fault.started.fault") == "idle" && run.Text("fault.started.target") == "tdk_py",
            "testdbkit fault idle --json should print its started line for tdk_py");
        run.Expect(run.Text("premise.timeout") == (engine == "mysql" ? "1" : "1s"),
            "a session opened while the idle fault is in effect should read back the 1 s idle timeout");
        run.Expect(run.Number("premise.inPoolWhileIdle") >= 1, "the connection should have lain in the pool while the server ended it");
        run.Expect(run.Number("premise.goneAfterSeconds") is not null, "the server should have ended the idle session (polled on the server's session list)");
        run.Expect(run.Text("fault.ended.event") == "ended" && run.Number("fault.exitCode") == 0, "the fault, stopped with SIGTERM, should print ended and exit 0");
        run.Expect(run.Text("timeoutAfterUndo") != run.Text("premise.timeout"), "once the fault is undone a new session should have the server's default timeout again");
    }

    /// <summary>The premise and consequence of a transaction whose session died: the session is gone on the server;
    /// the first statement fails as a disconnect; every statement until rollback() raises SQLAlchemy's "Can't reconnect
    /// until invalid transaction is rolled back"; after rollback() the connection works on a new session, and the row
    /// written before the break is gone with its transaction.</summary>
    private static void ExpectRollbackNeededThenRecovered(PythonScenario run, string engine)
    {
        run.Expect(run.Number("premise.goneAfterSeconds") is not null, "the server should no longer list the session that was in the transaction");
        run.Expect(run.Text("firstUse.error.type") == "sqlalchemy.exc.OperationalError" && run.Text("firstUse.error.connectionInvalidated") == "true",
            "the first statement after the break should fail as a disconnect (OperationalError, connection invalidated)");
        if (engine == "mysql")
        {
            run.Expect(run.Number("firstUse.error.driver.errno") is 2006 or 2013, "PyMySQL should report the lost connection as error 2006 or 2013");
        }

        run.Expect(run.Text("secondUse.error.type") == "sqlalchemy.exc.PendingRollbackError"
                && run.Text("secondUse.error.message")!.Contains("Can't reconnect until invalid transaction is rolled back", StringComparison.Ordinal),
            "the next statement before rollback() should raise \"Can't reconnect until invalid transaction is rolled back\"");
        run.Expect(run.Text("rollback.error") is null, "rollback() should succeed");
        run.Expect(run.Text("afterRollback.error") is null && run.Number("afterRollback.session") is { } after && after != run.Number("premise.session"),
            "after rollback() the connection should work again, on a new server session");
        run.Expect(run.Number("afterRollback.rows") == 0, "the row inserted before the break should be gone with its transaction");
    }

    /// <summary>The driver's own disconnect error: PyMySQL's 2006 "MySQL server has gone away" (or 2013 "Lost connection
    /// to MySQL server"), psycopg2's "server closed the connection unexpectedly".</summary>
    private static void ExpectDisconnectError(PythonScenario run, string path, string engine)
    {
        var message = run.Text(path + ".driver.message") ?? "";
        if (engine == "mysql")
        {
            var errno = run.Number(path + ".driver.errno");
            run.Expect(errno == 2006 && message.Contains("MySQL server has gone away", StringComparison.Ordinal)
                    || errno == 2013 && message.Contains("Lost connection to MySQL server", StringComparison.Ordinal),
                "PyMySQL should fail with 2006 \"MySQL server has gone away\" or 2013 \"Lost connection to MySQL server\"");
        }
        else
        {
            run.Expect(message.Contains("server closed the connection unexpectedly", StringComparison.Ordinal),
                "psycopg2 should fail with \"server closed the connection unexpectedly\"");
        }
    }
}
