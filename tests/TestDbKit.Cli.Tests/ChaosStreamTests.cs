using System.Diagnostics;
using TestDbKit.Tests.Common;

namespace TestDbKit.Cli.Tests;

/// <summary><c>testdbkit chaos</c> with <c>--database</c> (parallel workers on one server), <c>--json</c> lines as
/// each fault starts and ends, and <c>--duration</c> as a hard cap.</summary>
public sealed class ChaosStreamTests
{
    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task Chaos_with_a_database_touches_only_that_database_so_two_workers_on_one_server_do_not_hit_each_other(DbEngine engine)
    {
        await using var serve = await ServeProcess.StartAsync(Served.Key(engine), "--database", "w");
        var mine = await Sessions.NewKitDatabaseAsync(serve, engine);
        var theirs = await Sessions.NewKitDatabaseAsync(serve, engine);
        await using var victim = await Sessions.OpenAsync(engine, serve.TestConnectionStringFor(engine, mine));
        await using var bystander = await Sessions.OpenAsync(engine, serve.TestConnectionStringFor(engine, theirs));
        await victim.ExecuteAsync("SELECT 1");
        await bystander.ExecuteAsync("SELECT 1");

        var (code, stdout, stderr) = await CliProcess.RunAsync("chaos", "--connection", serve.AdminUrl, "--database", mine, "--faults", "kill",
            "--seed", "2", "--duration", "1500ms", "--interval", "100ms", "--json");
        Assert.True(code == 0, stderr);
        var events = ChaosOutput.Events(stdout);
        Assert.NotEmpty(events);
        Assert.All(events, e => Assert.Equal(mine, e.GetProperty("target").GetString()));
        using (var summary = ChaosOutput.Summary(stdout))
        {
            Assert.Equal(mine, summary.RootElement.GetProperty("database").GetString());
        }

        await Expect.ConnectionLostAsync(() => victim.ExecuteAsync("SELECT 1"), "the session of the chaos run's database");
        await bystander.ExecuteAsync("SELECT 1"); // the other worker's session was never touched
    }

    [Fact]
    public async Task Duration_is_a_hard_cap_each_fault_is_streamed_as_it_starts_and_ends_and_every_one_is_undone()
    {
        await using var serve = await ServeProcess.StartAsync("postgres", "--database", "w");
        var idleBefore = await Sessions.TimeoutSecondsAsync(DbEngine.PostgreSql, serve, "tdk_w", "idle");
        var clock = Stopwatch.StartNew();

        // Holds of up to 20 s in a 3 s run: each must be cut at the deadline.
        await using var chaos = FaultProcess.Start("chaos", "--connection", serve.AdminUrl, "--database", "tdk_w", "--faults", "freeze,idle",
            "--seed", "8", "--duration", "3s", "--interval", "100ms", "--max-hold", "20s", "--value", "2s", "--json");

        // The first line comes while its fault is in effect, not after it was undone.
        var first = await chaos.NextAsync();
        Assert.Equal("started", first.GetProperty("event").GetString());
        if (first.GetProperty("fault").GetString() == "freeze")
        {
            await Assert.ThrowsAnyAsync<Exception>(() => Sessions.OpenAsync(DbEngine.PostgreSql, serve.TestConnectionString, timeoutSeconds: 1));
        }
        else
        {
            Assert.Equal("2s", first.GetProperty("value").GetString());
            Assert.Equal(2, await Sessions.TimeoutSecondsAsync(DbEngine.PostgreSql, serve, "tdk_w", "idle"));
        }

        var (code, stderr) = await chaos.ExitAsync();
        var elapsed = clock.Elapsed;
        var rest = await chaos.RestAsync();
        Assert.True(code == 0, stderr);
        using var summary = System.Text.Json.JsonDocument.Parse(rest[^1]);
        var durationMs = summary.RootElement.GetProperty("durationMs").GetInt64();
        Assert.True(durationMs < 5000, $"a 3 s chaos run lasted {durationMs} ms");
        Assert.True(elapsed < TimeSpan.FromSeconds(30), $"the chaos process ran {elapsed}");

        // Every fault that started ended, in order, and each held no longer than the run.
        var events = new[] { first }.Concat(rest[..^1].Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement)).ToList();
        Assert.Equal(events.Count / 2, summary.RootElement.GetProperty("faults").GetArrayLength());
        for (var i = 0; i < events.Count; i += 2)
        {
            Assert.Equal("started", events[i].GetProperty("event").GetString());
            Assert.Equal("ended", events[i + 1].GetProperty("event").GetString());
            Assert.Equal(events[i].GetProperty("fault").GetString(), events[i + 1].GetProperty("fault").GetString());
        }

        Assert.All(summary.RootElement.GetProperty("faults").EnumerateArray(), f => Assert.True(f.GetProperty("heldMs").GetInt64() < 5000));
        await using var after = await Sessions.OpenAsync(DbEngine.PostgreSql, serve.TestConnectionString); // thawed
        Assert.Equal(idleBefore, await Sessions.TimeoutSecondsAsync(DbEngine.PostgreSql, serve, "tdk_w", "idle"));
    }
}
