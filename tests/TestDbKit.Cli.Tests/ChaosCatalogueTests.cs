using System.Diagnostics;
using System.Text.Json;
using TestDbKit.Tests.Common;

namespace TestDbKit.Cli.Tests;

/// <summary><c>testdbkit chaos</c> offers every fault kind of the catalogue that a whole server can take, not a
/// list of its own: kinds that only <see cref="FaultInjector"/> had before (ending idle sessions, exhausting the
/// server's connections) run from the command line through the same declarations.</summary>
public sealed class ChaosCatalogueTests
{
    [Fact]
    public async Task Chaos_runs_catalogue_kinds_it_never_named_itself_kill_idle_and_exhaust_on_a_served_server()
    {
        await using var serve = await ServeProcess.StartAsync("postgres");
        await using var server = await DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { Provider = DbServerProvider.External, ConnectionString = serve.ConnectionString });
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions());
        await using var database = await pool.LeaseAsync();
        await using var idle = await database.OpenConnectionAsync(); // rests idle through the run: kill-idle ends it
        await idle.ExecuteAsync("SELECT 1");

        var (_, help, _) = await CliProcess.RunAsync("chaos", "--help");
        Assert.Contains("kill-idle", help, StringComparison.Ordinal);
        Assert.Contains("exhaust", help, StringComparison.Ordinal);

        var chaos = Process.Start(CliProcess.Start(["chaos", "--engine", "postgres", "--connection", serve.ConnectionString, "--seed", "11",
            "--duration", "6s", "--interval", "300ms", "--max-hold", "1500ms", "--faults", "kill-idle,exhaust", "--json"]))!;
        var stderr = chaos.StandardError.ReadToEndAsync();

        // The tool prints "started" once a fault is in effect and "ended" once it is undone: between the two lines of
        // an exhaust the server must refuse a new session (53300). The probe follows those lines rather than its own
        // pace, so a short hold on a loaded machine is probed at once.
        var lines = new System.Text.StringBuilder();
        var exhausted = 0; // 1 between an exhaust's started and ended lines
        var reader = Task.Run(async () =>
        {
            while (await chaos.StandardOutput.ReadLineAsync() is { } line)
            {
                lines.AppendLine(line);
                if (line.Contains("\"fault\":\"exhaust\"", StringComparison.Ordinal))
                {
                    Volatile.Write(ref exhausted, line.Contains("\"event\":\"started\"", StringComparison.Ordinal) ? 1 : 0);
                }
            }
        });

        var refused = 0;
        var probedInHold = 0;
        var probe = new Npgsql.NpgsqlConnectionStringBuilder(database.ConnectionString) { Pooling = false, Timeout = 2 }.ConnectionString;
        while (!reader.IsCompleted)
        {
            var inHold = Volatile.Read(ref exhausted) == 1;
            try
            {
                await using var connection = server.CreateConnection(probe);
                await connection.OpenAsync();
            }
            catch (Npgsql.PostgresException e) when (e.SqlState == "53300")
            {
                refused++;
            }
            catch (Exception e) when (DbErrors.IsTransient(e))
            {
                // Another moment of the run (a session ended as it opened).
            }

            probedInHold += inHold ? 1 : 0;
            if (!inHold)
            {
                await Task.Delay(10); // the probe's pace between holds, not a wait for something
            }
        }

        await reader;
        await chaos.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
        var output = lines.ToString();
        Assert.True(chaos.ExitCode == 0, $"chaos exited with {chaos.ExitCode}:\n{output}\n{await stderr}");
        using var json = ChaosOutput.Summary(output);
        Assert.Equal(0, json.RootElement.GetProperty("failed").GetInt32());
        var injected = json.RootElement.GetProperty("faults").EnumerateArray().ToList();
        var kinds = injected.Select(f => f.GetProperty("fault").GetString()).ToHashSet();
        Assert.Equal(["exhaust", "kill-idle"], kinds.Order(StringComparer.Ordinal));

        // Each did what its one declaration says: the server refused new sessions, and came back; the idle
        // session was ended.
        Assert.True(probedInHold > 0, $"premise: no probe ran while an exhaust was in effect; the run's output:\n{output}");
        Assert.True(refused > 0, $"no new session was refused while exhaust faults ran ({probedInHold} probe(s) began in a hold); the run's output:\n{output}");
        Assert.All(injected.Where(f => f.GetProperty("fault").GetString() == "exhaust"), f => Assert.True(f.GetProperty("backAfterMs").GetDouble() > 0));
        Assert.Contains(injected, f => f.GetProperty("fault").GetString() == "kill-idle" && f.GetProperty("detail").GetString()!.EndsWith("session(s) ended", StringComparison.Ordinal));
        await Expect.ConnectionLostAsync(() => idle.ExecuteAsync("SELECT 1"), "the idle session after kill-idle");
        await using var after = await database.OpenConnectionAsync(); // and the exhaust was undone
        await after.ExecuteAsync("SELECT 1");
    }

    [Fact]
    public async Task Chaos_without_faults_runs_the_default_kinds()
    {
        await using var serve = await ServeProcess.StartAsync("postgres");
        var (code, output, errors) = await CliProcess.RunAsync("chaos", "--engine", "postgres", "--connection", serve.ConnectionString,
            "--seed", "5", "--duration", "2s", "--interval", "200ms", "--max-hold", "100ms", "--json");

        Assert.True(code == 0, $"chaos exited with {code}:\n{output}\n{errors}");
        Assert.Contains("faults kill,idle", errors, StringComparison.Ordinal);
        using var json = ChaosOutput.Summary(output);
        var kinds = json.RootElement.GetProperty("faults").EnumerateArray().Select(f => f.GetProperty("fault").GetString()).ToList();
        Assert.NotEmpty(kinds);
        Assert.All(kinds, k => Assert.Contains(k, new[] { "kill", "idle" }));
    }
}
