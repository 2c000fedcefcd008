using System.Data.Common;
using System.Diagnostics;
using TestDbKit.Tests.Common;

namespace TestDbKit.Cli.Tests;

/// <summary>
/// <c>testdbkit fault</c>'s network kinds, on the kit's TCP proxy that <c>testdbkit serve --proxy</c> runs in front of
/// its server: a real client connected through the proxy (the <c>proxy</c> object of <c>serve --json</c>) sees each
/// one, and each test first proves that the client did not see it before. The fault process returns its
/// <c>started</c> line once the fault is in effect and undoes a lasting one on SIGTERM.
/// </summary>
public sealed class NetworkFaultTests(ProxyServed served) : IClassFixture<ProxyServed>
{
    private const DbEngine Pg = DbEngine.PostgreSql;

    [Fact]
    public async Task Serve_proxy_prints_the_test_sessions_fields_through_the_proxy()
    {
        var serve = await served.GetAsync(Pg);
        var json = serve.Json;
        var proxy = serve.Proxy();
        var port = proxy.GetProperty("port").GetInt32();
        var (user, password, database) = (json.GetProperty("user").GetString(), json.GetProperty("password").GetString(), json.GetProperty("database").GetString());

        Assert.Equal("127.0.0.1", proxy.GetProperty("host").GetString());
        Assert.NotEqual(json.GetProperty("port").GetInt32(), port);
        Assert.Equal($"postgresql://{user}:{password}@127.0.0.1:{port}/{database}", proxy.GetProperty("url").GetString());
        Assert.Equal($"postgresql+psycopg2://{user}:{password}@127.0.0.1:{port}/{database}", proxy.GetProperty("urls").GetProperty("sqlalchemy").GetString());
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(serve.ProxyConnectionString());
        Assert.Equal(("127.0.0.1", port, user, database), (builder.Host, builder.Port, builder.Username, builder.Database));

        await using var session = await serve.OpenThroughProxyAsync(Pg);
        Assert.Equal(database, await session.ScalarAsync("SELECT current_database()"));
    }

    [Fact]
    public async Task Latency_delays_every_round_trip_through_the_proxy_until_undone()
    {
        var serve = await served.GetAsync(Pg);
        var latency = TimeSpan.FromMilliseconds(300);
        await using var session = await serve.OpenThroughProxyAsync(Pg);
        var before = await Proxied.FastestOfThreeAsync(session, "SELECT 1");
        Assert.True(before < latency, $"premise: a round trip took {before.TotalMilliseconds:0} ms before the fault");

        await using (var fault = await Proxied.StartFaultAsync(serve, "network-latency", "--value", "300ms"))
        {
            Assert.Equal("300ms", fault.Started!.Value.GetProperty("value").GetString());
            var clock = Stopwatch.StartNew();
            await session.ScalarAsync("SELECT 1");
            // Each way is delayed: at least the value, whatever the machine's load.
            Assert.True(clock.Elapsed >= latency, $"a round trip under a {latency.TotalMilliseconds:0} ms latency took {clock.Elapsed.TotalMilliseconds:0} ms");
            var ended = await fault.StopAsync();
            Assert.Equal("network-latency", ended.GetProperty("fault").GetString());
        }

        var after = await Proxied.FastestOfThreeAsync(session, "SELECT 1");
        Assert.True(after < latency, $"after the fault a round trip still took {after.TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task Bandwidth_slows_a_large_reply_to_the_bytes_a_second_given()
    {
        var serve = await served.GetAsync(Pg);
        const string Reply = "SELECT repeat('x', 50000)"; // 50 kB: a second at 50 kB/s
        await using var session = await serve.OpenThroughProxyAsync(Pg);
        var before = await Proxied.FastestOfThreeAsync(session, Reply);
        Assert.True(before < TimeSpan.FromMilliseconds(500), $"premise: the reply took {before.TotalMilliseconds:0} ms before the fault");

        await using var fault = await Proxied.StartFaultAsync(serve, "network-bandwidth", "--value", "50000");
        var clock = Stopwatch.StartNew();
        var text = (string)(await session.ScalarAsync(Reply))!;
        Assert.Equal(50000, text.Length);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(500), $"50 kB at 50000 B/s took {clock.Elapsed.TotalMilliseconds:0} ms");
        Assert.Equal("50000B/s", fault.Started!.Value.GetProperty("value").GetString());
        await fault.StopAsync();
    }

    [Fact]
    public async Task Stall_holds_a_query_until_the_fault_is_undone_then_it_completes()
    {
        var serve = await served.GetAsync(Pg);
        await using var session = await serve.OpenThroughProxyAsync(Pg);
        Assert.Equal(1, Convert.ToInt32(await session.ScalarAsync("SELECT 1"))); // premise: it answers

        await using var fault = await Proxied.StartFaultAsync(serve, "network-stall");
        var query = session.ScalarAsync("SELECT 2");
        var first = await Task.WhenAny(query, Task.Delay(TimeSpan.FromSeconds(1)));
        Assert.True(first != query, $"the query completed while the traffic was stalled ({query.Status}: {query.Exception?.InnerException?.Message})");

        await fault.StopAsync();
        Assert.Equal(2, Convert.ToInt32(await query.WaitAsync(TimeSpan.FromSeconds(30))));
    }

    [Fact]
    public async Task A_stall_whose_fault_process_was_killed_is_undone_by_the_owner()
    {
        var serve = await served.GetAsync(Pg);
        await using var session = await serve.OpenThroughProxyAsync(Pg);
        await session.ExecuteAsync("SELECT 1"); // premise: it answers

        await using var fault = await Proxied.StartFaultAsync(serve, "network-stall");
        var query = session.ScalarAsync("SELECT 3");
        var first = await Task.WhenAny(query, Task.Delay(TimeSpan.FromSeconds(1)));
        Assert.True(first != query, $"premise: the query completed while the traffic was stalled ({query.Status})");

        fault.Signal("KILL"); // no chance to undo anything itself: serve sees its socket close
        await fault.ExitAsync();
        Assert.Equal(3, Convert.ToInt32(await query.WaitAsync(TimeSpan.FromSeconds(30))));
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task Reset_breaks_every_open_connection_through_the_proxy_as_a_lost_connection(DbEngine engine)
    {
        var serve = await served.GetAsync(engine);
        await using var session = await serve.OpenThroughProxyAsync(engine);
        await session.ExecuteAsync("SELECT 1"); // premise: open and answering

        var (code, stdout, stderr) = await CliProcess.RunAsync("fault", "network-reset", "--connection", serve.AdminUrl, "--json");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("\"event\":\"started\"", lines[0], StringComparison.Ordinal);
        using var ended = System.Text.Json.JsonDocument.Parse(lines[^1]);
        Assert.Equal("ended", ended.RootElement.GetProperty("event").GetString());
        Assert.True(ended.RootElement.GetProperty("count").GetInt32() >= 1, stdout);

        await Expect.ConnectionLostAsync(() => session.ExecuteAsync("SELECT 1"), "a connection open through the proxy across network-reset");
        await using var after = await serve.OpenThroughProxyAsync(engine); // the proxy serves new connections
        await after.ExecuteAsync("SELECT 1");
    }

    [Fact]
    public async Task Refuse_fails_new_connections_and_spares_open_ones_until_undone()
    {
        var serve = await served.GetAsync(Pg);
        await using (var probe = await serve.OpenThroughProxyAsync(Pg))
        {
            await probe.ExecuteAsync("SELECT 1"); // premise: new connections get through
        }

        await using var open = await serve.OpenThroughProxyAsync(Pg);
        await using (var fault = await Proxied.StartFaultAsync(serve, "network-refuse"))
        {
            var refused = await Assert.ThrowsAnyAsync<Exception>(() => serve.OpenThroughProxyAsync(Pg));
            Assert.True(DbErrors.IsTransient(refused), $"a refused connection: {refused.GetType().Name}: {refused.Message}");
            await open.ExecuteAsync("SELECT 1"); // only new connections are refused
            await fault.StopAsync();
        }

        await using var after = await serve.OpenThroughProxyAsync(Pg);
        await after.ExecuteAsync("SELECT 1");
    }

    [Fact]
    public async Task Cut_resets_a_connection_once_the_bytes_given_have_come_back()
    {
        var serve = await served.GetAsync(Pg);
        const string Large = "SELECT repeat('x', 200000)";
        await using (var before = await serve.OpenThroughProxyAsync(Pg))
        {
            Assert.Equal(200000, ((string)(await before.ScalarAsync(Large))!).Length); // premise: the large reply gets through
        }

        await using (var fault = await Proxied.StartFaultAsync(serve, "network-cut", "--value", "64KB"))
        {
            // Below the count the connection works: the cut is not a reset.
            await using var session = await serve.OpenThroughProxyAsync(Pg);
            Assert.Equal(1, Convert.ToInt32(await session.ScalarAsync("SELECT 1")));
            await Expect.ConnectionLostAsync(() => session.ScalarAsync(Large), "a 200 kB reply through a cut at 64 KB");
            await fault.StopAsync();
        }

        await using var after = await serve.OpenThroughProxyAsync(Pg);
        Assert.Equal(200000, ((string)(await after.ScalarAsync(Large))!).Length);
    }

    [Fact]
    public async Task Ambiguous_commit_loses_the_reply_while_the_row_is_committed()
    {
        var serve = await served.GetAsync(Pg);
        var table = "orders_" + Guid.NewGuid().ToString("N")[..8];
        await using var direct = await serve.OpenDirectAsync(Pg);
        await direct.ExecuteAsync($"CREATE TABLE {table} (id int PRIMARY KEY)");

        await using var session = await serve.OpenThroughProxyAsync(Pg);
        var transaction = await session.BeginTransactionAsync();
        await session.ExecuteAsync($"INSERT INTO {table} VALUES (1)", transaction);
        Assert.Equal(0L, Convert.ToInt64(await direct.ScalarAsync($"SELECT count(*) FROM {table}"))); // premise: not committed yet

        await using var fault = await Proxied.StartFaultAsync(serve, "ambiguous-commit");
        await Expect.ConnectionLostAsync(() => transaction.CommitAsync(), "COMMIT whose reply the proxy lost");
        Assert.Equal(1L, Convert.ToInt64(await direct.ScalarAsync($"SELECT count(*) FROM {table}"))); // and yet committed
        await fault.StopAsync();
    }

    [Fact]
    public async Task Chaos_schedules_network_faults_on_the_proxy_and_undoes_them()
    {
        var serve = await served.GetAsync(Pg);
        string[] network = ["network-latency", "network-stall", "network-refuse", "network-reset", "ambiguous-commit"];
        var (code, stdout, stderr) = await CliProcess.RunAsync("chaos", "--connection", serve.AdminUrl, "--seed", "3", "--duration", "2s",
            "--interval", "150ms", "--max-hold", "150ms", "--faults", string.Join(',', network), "--json");

        Assert.True(code == 0, $"chaos exited with {code}:\n{stdout}\n{stderr}");
        using var summary = ChaosOutput.Summary(stdout);
        Assert.Equal(0, summary.RootElement.GetProperty("failed").GetInt32());
        var kinds = summary.RootElement.GetProperty("faults").EnumerateArray().Select(f => f.GetProperty("fault").GetString()!).ToList();
        Assert.True(kinds.Distinct().Count() >= 2, $"the run injected {string.Join(",", kinds)}");
        Assert.All(kinds, k => Assert.Contains(k, network));
        Assert.All(ChaosOutput.Events(stdout), e => Assert.StartsWith("proxy 127.0.0.1:", e.GetProperty("target").GetString(), StringComparison.Ordinal));

        // Every lasting one was undone: a new connection through the proxy is accepted and answers.
        await using var after = await serve.OpenThroughProxyAsync(Pg);
        Assert.Equal(1, Convert.ToInt32(await after.ScalarAsync("SELECT 1").WaitAsync(TimeSpan.FromSeconds(10))));
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql, "psycopg2.OperationalError")]
    [InlineData(DbEngine.MySql, "pymysql.err.OperationalError")]
    public async Task A_Python_client_through_the_proxy_sees_a_reset_as_a_lost_connection(DbEngine engine, string error)
    {
        var serve = await served.GetAsync(engine);
        var psi = new ProcessStartInfo(PythonScenario.Interpreter) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var arg in new[] { RepositoryFiles.Path("tests", "python", "network_reset.py"), "--engine", Served.Key(engine),
            "--url", serve.Proxy().GetProperty("url").GetString()!, "--admin", serve.AdminUrl, "--", "dotnet", ChildProcess.BuiltBeside("../../src/TestDbKit.Cli", "TestDbKit.Cli.dll") })
        {
            psi.ArgumentList.Add(arg);
        }

        psi.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        var (code, stdout, stderr) = await ChildProcess.RunAsync(psi, TimeSpan.FromSeconds(120));
        Assert.True(code == 0, $"network_reset.py exited with {code}:\n{stderr}\n{stdout}");
        using var json = System.Text.Json.JsonDocument.Parse(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]);
        var result = json.RootElement;
        var observed = $"the script observed: {result}";

        Assert.True(result.GetProperty("premise").GetProperty("select").GetInt32() == 1, observed);
        var fault = result.GetProperty("fault");
        Assert.True(fault.GetProperty("exit").GetInt32() == 0, observed);
        var ended = fault.GetProperty("lines").EnumerateArray().Last();
        Assert.True(ended.GetProperty("event").GetString() == "ended" && ended.GetProperty("count").GetInt32() >= 1, observed); // premise: it reset a connection

        var after = result.GetProperty("after");
        Assert.True(after.TryGetProperty("error", out var raised), observed);
        Assert.True(raised.GetString() == error, observed);
        Assert.True(after.GetProperty("closed").GetBoolean(), observed);
        Assert.True(result.GetProperty("new_connection").GetProperty("select").GetInt32() == 1, observed);
    }
}
