using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using TestDbKit.Tests.Common;

namespace TestDbKit.Cli.Tests;

/// <summary><c>testdbkit chaos</c> run as a process against <c>testdbkit serve</c> while this process works on
/// the server, as a pipeline's chaos step runs beside its test suite.</summary>
public sealed class ChaosTests
{
    [Theory]
    [InlineData(DbEngine.PostgreSql, "postgres", "kill,idle,crash,freeze")]
    [InlineData(DbEngine.MySql, "mysql", "kill,idle,crash,freeze")]
    public async Task Chaos_breaks_a_served_server_while_a_client_works_and_the_client_loses_no_acknowledged_write(DbEngine engine, string name, string faults)
    {
        await using var serve = await ServeProcess.StartAsync(name);
        await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.External, ConnectionString = serve.ConnectionString });
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = c => c.ExecuteAsync("CREATE TABLE notes (id int PRIMARY KEY)") });
        await using var database = await pool.LeaseAsync();
        var idleBefore = await IdleSettingsAsync(server);
        var report = Path.Combine(Path.GetTempPath(), $"tdk-chaos-{Guid.NewGuid():N}", "chaos.html");

        var chaos = Process.Start(CliProcess.Start(["chaos", "--engine", name, "--connection", serve.ConnectionString, "--seed", "1",
            "--duration", "5s", "--interval", "400ms", "--max-hold", "300ms", "--faults", faults, "--json", "--report", report]))!;
        var stdout = chaos.StandardOutput.ReadToEndAsync();
        var stderr = chaos.StandardError.ReadToEndAsync();

        // The client: idempotent writes retried on transient errors, until the chaos run ends.
        var acknowledged = new HashSet<int>(); // a retry after the write may write the same id again: idempotent
        var sessions = new HashSet<long>();
        var errors = 0;
        for (var id = 1; !chaos.HasExited; id++)
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await using var connection = await database.OpenConnectionAsync();
                    await connection.ExecuteAsync(engine == DbEngine.PostgreSql
                        ? $"INSERT INTO notes (id) VALUES ({id}) ON CONFLICT DO NOTHING"
                        : $"INSERT IGNORE INTO notes (id) VALUES ({id})");
                    acknowledged.Add(id);
                    sessions.Add(await connection.SessionIdAsync(engine));
                    break;
                }
                catch (Exception e) when (DbErrors.IsTransient(e) && attempt < 500)
                {
                    errors++;
                    await Task.Delay(20); // a retry's back-off, not a wait for something
                }
            }
        }

        await chaos.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        var output = await stdout;
        Assert.True(chaos.ExitCode == 0, $"chaos exited with {chaos.ExitCode}:\n{output}\n{await stderr}");
        using var json = ChaosOutput.Summary(output);
        Assert.Equal(1, json.RootElement.GetProperty("seed").GetInt32());
        Assert.True(json.RootElement.GetProperty("owned").GetBoolean());
        Assert.Equal(0, json.RootElement.GetProperty("failed").GetInt32());
        var injected = json.RootElement.GetProperty("faults").EnumerateArray().ToList();
        Assert.NotEmpty(injected);
        Assert.All(injected, f => Assert.Contains(f.GetProperty("fault").GetString()!, faults.Split(','), StringComparer.Ordinal));
        Assert.All(injected.Where(f => f.GetProperty("fault").GetString() is "crash" or "freeze"),
            f => Assert.True(f.GetProperty("backAfterMs").GetDouble() > 0));
        Assert.Contains("seed 1,", await stderr, StringComparison.Ordinal); // each fault and the replay line show as they happen

        // Seed 1 starts with a kill, then a crash: both reached the client, which recovered without losing an
        // acknowledged write.
        Assert.Equal(["kill", "crash"], injected.Take(2).Select(f => f.GetProperty("fault").GetString()));
        Assert.True(sessions.Count > 1, "the client wrote through one server session all along: the faults did not reach it");
        if (engine == DbEngine.PostgreSql)
        {
            // Npgsql hands out a pooled connection without checking it, so a session killed while idle in the pool
            // surfaces as an error. MySqlConnector resets each pooled connection as it opens it, and silently
            // replaces one that fails the reset.
            Assert.True(errors > 0, "the client met no error: the faults did not reach it");
        }
        server.ClearPools(); // the run may have ended on a crash that killed the idle pooled sessions
        await using (var check = await database.OpenConnectionAsync())
        await using (var count = check.CreateCommand())
        {
            count.CommandText = "SELECT count(*) FROM notes";
            Assert.Equal(acknowledged.Count, Convert.ToInt32(await count.ExecuteScalarAsync(), CultureInfo.InvariantCulture));
        }

        // Lasting faults were undone, and the report is one self-contained page with the seed.
        Assert.Equal(idleBefore, await IdleSettingsAsync(server));
        var html = await File.ReadAllTextAsync(report);
        Assert.Contains("<svg", html, StringComparison.Ordinal);
        Assert.Contains("Chaos seed: <b>1</b>", html, StringComparison.Ordinal);
        foreach (var external in new[] { "<script", "<link", "src=", "url(", "@import", "https://" })
        {
            Assert.DoesNotContain(external, html, StringComparison.OrdinalIgnoreCase);
        }

        Directory.Delete(Path.GetDirectoryName(report)!, recursive: true);
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task The_idle_fault_gives_sessions_opened_meanwhile_a_short_idle_timeout_and_is_undone(DbEngine engine)
    {
        await using var serve = await ServeProcess.StartAsync(Served.Key(engine), "--database", "w");
        var before = await Sessions.TimeoutSecondsAsync(engine, serve, "tdk_w", "idle");

        var chaos = Process.Start(CliProcess.Start(["chaos", "--connection", serve.AdminUrl, "--seed", "5",
            "--duration", "4s", "--interval", "50ms", "--max-hold", "2s", "--faults", "idle"]))!;
        var stdout = chaos.StandardOutput.ReadToEndAsync();
        var stderr = chaos.StandardError.ReadToEndAsync();

        // Poll new test sessions of the kit's database until one gets the shortened timeout.
        var seen = before;
        var clock = Stopwatch.StartNew();
        while (seen != 1 && clock.Elapsed < TimeSpan.FromSeconds(30) && !chaos.HasExited)
        {
            seen = await Sessions.TimeoutSecondsAsync(engine, serve, "tdk_w", "idle");
            await Task.Delay(20); // gentle polling: the machine is shared
        }

        await chaos.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        Assert.True(seen == 1, $"no session saw the 1 s idle timeout:\n{await stdout}\n{await stderr}");
        Assert.Equal(0, chaos.ExitCode);
        Assert.Contains("timed out after 1 s idle", await stdout, StringComparison.Ordinal);
        Assert.Equal(before, await Sessions.TimeoutSecondsAsync(engine, serve, "tdk_w", "idle"));
    }

    [Fact]
    public async Task The_same_seed_injects_the_same_faults()
    {
        await using var serve = await ServeProcess.StartAsync("postgres");
        string[] args = ["chaos", "--engine", "postgres", "--connection", serve.ConnectionString, "--seed", "99", "--duration", "3s",
            "--interval", "150ms", "--max-hold", "200ms", "--faults", "kill,idle,freeze", "--json"];
        var first = await CliProcess.RunAsync(args);
        var second = await CliProcess.RunAsync(args);
        Assert.Equal(0, first.Code);
        Assert.Equal(0, second.Code);
        var a = Faults(first.Stdout);
        var b = Faults(second.Stdout);
        Assert.True(a.Count >= 2, $"too few faults to compare: {first.Stdout}");

        // Timing decides how many fit in the run; those that ran are the same, in the same order, held as long.
        var common = Math.Min(a.Count, b.Count);
        Assert.Equal(a.Take(common), b.Take(common));

        static List<string> Faults(string stdout)
        {
            using var json = ChaosOutput.Summary(stdout);
            return [.. json.RootElement.GetProperty("faults").EnumerateArray().Select(f => $"{f.GetProperty("fault").GetString()} {f.GetProperty("holdMs").GetInt64()}")];
        }
    }

    [Fact]
    public async Task A_server_that_no_testdbkit_serve_owns_is_refused()
    {
        // Started by this test process, not by `testdbkit serve`: chaos has no owner to ask and must not touch it.
        await using var server = await DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { Provider = DbServerProvider.Local });
        var (code, stdout, stderr) = await CliProcess.RunAsync("chaos", "--engine", "postgres", "--connection", server.AdminConnectionString, "--duration", "1s");
        Assert.Equal(3, code);
        Assert.Equal("", stdout);
        Assert.StartsWith("testdbkit chaos: refused: ", stderr, StringComparison.Ordinal);
        Assert.Contains("TESTDBKIT_ALLOW_CHAOS=1", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain(new Npgsql.NpgsqlConnectionStringBuilder(server.AdminConnectionString).Password!, stderr, StringComparison.Ordinal);

        // Allowed, server-level faults are still refused: only the owner could do them.
        var allowed = new Dictionary<string, string> { ["TESTDBKIT_ALLOW_CHAOS"] = "1" };
        var crash = await CliProcess.RunAsync(CliProcess.Start(["chaos", "--engine", "postgres", "--connection", server.AdminConnectionString, "--faults", "kill,crash"], allowed), TimeSpan.FromSeconds(60));
        Assert.Equal(3, crash.Code);
        Assert.Contains("crash need a server the kit owns", crash.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Allowed_chaos_on_a_server_the_kit_does_not_own_kills_only_sessions_of_the_kits_databases()
    {
        await using var server = await DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { Provider = DbServerProvider.Local });
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions());
        await using var database = await pool.LeaseAsync();
        await using var kit = await database.OpenConnectionAsync();
        await using var other = server.CreateConnection(new Npgsql.NpgsqlConnectionStringBuilder(server.AdminConnectionString) { ApplicationName = "someone-else" }.ConnectionString);
        await other.OpenAsync();

        var allowed = new Dictionary<string, string> { ["TESTDBKIT_ALLOW_CHAOS"] = "1" };
        var (code, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Start(["chaos", "--engine", "postgres", "--connection", server.AdminConnectionString,
            "--faults", "kill", "--seed", "3", "--duration", "1s", "--interval", "100ms"], allowed), TimeSpan.FromSeconds(60));
        Assert.True(code == 0, $"exit {code}: {stdout}\n{stderr}");
        Assert.Contains("not owned by the kit", stderr, StringComparison.Ordinal);
        Assert.Contains("session(s) ended", stdout, StringComparison.Ordinal);

        await Expect.ConnectionLostAsync(() => kit.ExecuteAsync("SELECT 1"), "the kit's session after the chaos kill");
        await other.ExecuteAsync("SELECT 1"); // a session outside the kit's databases survived
    }

    [Fact]
    public async Task Serve_will_not_register_in_a_run_folder_others_can_write_and_chaos_then_refuses_its_server()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"tdk-run-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        File.SetUnixFileMode(folder, (UnixFileMode)Convert.ToInt32("777", 8)); // anyone could pose as the kit's server here
        var environment = new Dictionary<string, string> { ["TESTDBKIT_RUN_DIR"] = folder };
        using var serve = Process.Start(CliProcess.Start(["serve", "--engine", "postgres", "--provider", "local", "--json"], environment))!;
        var stderr = serve.StandardError.ReadToEndAsync();
        try
        {
            var line = await serve.StandardOutput.ReadLineAsync(new CancellationTokenSource(TimeSpan.FromSeconds(90)).Token);
            using var json = JsonDocument.Parse(line!);
            Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("control").ValueKind);
            Assert.Empty(Directory.GetFiles(folder));

            var chaos = await CliProcess.RunAsync(CliProcess.Start(["chaos", "--engine", "postgres", "--connection",
                json.RootElement.GetProperty("connectionString").GetString()!, "--faults", "crash"], environment), TimeSpan.FromSeconds(60));
            Assert.Equal(3, chaos.Code);
        }
        finally
        {
            Process.Start("kill", ["-TERM", serve.Id.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();
            await serve.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
            Directory.Delete(folder, recursive: true);
        }

        Assert.Equal(0, serve.ExitCode);
        Assert.Contains("will not be able to break this server", await stderr, StringComparison.Ordinal);
        Assert.Contains("mode 0700", await stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("postgres", "Host=127.0.0.1;Frobnicate=1;Password=sekrit-7")]
    [InlineData("mysql", "Server=127.0.0.1;Port=abc;Password=sekrit-7")]
    public async Task A_malformed_connection_string_is_a_usage_error_that_keeps_the_password_out(string engine, string connection)
    {
        var (code, stdout, stderr) = await CliProcess.RunAsync("chaos", "--engine", engine, "--connection", connection);
        Assert.Equal(64, code);
        Assert.Equal("", stdout);
        Assert.StartsWith("testdbkit: --connection is not a", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("sekrit-7", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Allowed_chaos_says_when_it_cannot_reach_the_server_without_printing_the_password()
    {
        var allowed = new Dictionary<string, string> { ["TESTDBKIT_ALLOW_CHAOS"] = "1" };
        var (code, stdout, stderr) = await CliProcess.RunAsync(CliProcess.Start(["chaos", "--engine", "mysql", "--connection",
            "Server=127.0.0.1;Port=1;User ID=root;Password=sekrit-42", "--faults", "kill"], allowed), TimeSpan.FromSeconds(60));
        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Contains("could not connect to MySQL at 127.0.0.1:1", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("sekrit-42", stderr, StringComparison.Ordinal);
    }

    /// <summary>The server's idle timeout settings: PostgreSQL's per-database ones, MySQL's global ones.</summary>
    private static async Task<string> IdleSettingsAsync(DbServer server)
    {
        // Not pooled: a crash in the chaos run killed the pooled sessions.
        await using var admin = server.CreateConnection(server.AdminConnectionString + ";Pooling=false");
        await admin.OpenAsync();
        await using var command = admin.CreateCommand();
        command.CommandText = server.Engine == DbEngine.PostgreSql
            ? "SELECT count(*)::text FROM pg_db_role_setting"
            : "SELECT CONCAT(@@GLOBAL.wait_timeout, '/', @@GLOBAL.interactive_timeout)";
        return Convert.ToString(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture)!;
    }
}

/// <summary>What <c>chaos --json</c> prints: a started/ended (or failed) line per fault as it happens, then the summary
/// object as the last line.</summary>
internal static class ChaosOutput
{
    public static JsonDocument Summary(string stdout) => JsonDocument.Parse(Lines(stdout)[^1]);

    public static List<JsonElement> Events(string stdout) =>
        [.. Lines(stdout)[..^1].Select(l => JsonDocument.Parse(l).RootElement)];

    private static string[] Lines(string stdout) => stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
