using System.Data.Common;
using TestDbKit.Databases;
using TestDbKit.Engines;
using TestDbKit.Tests.Common;
using TestDbKit.Tests.Databases;

namespace TestDbKit.Tests.ManyRuns;

/// <summary>
/// The janitor on a server the run does not own (External), against the databases of three other runs, all young:
/// one that lost its mark for a moment (it holds none at the janitor's first look and takes it again right after, as
/// a live run's keeper does after a network fault), one dead (no mark ever), and one of an earlier kit version (a run id
/// of 6 characters: such runs hold no mark, so only the age rule may drop their databases).
/// </summary>
public sealed class JanitorMarkTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Only_a_run_whose_mark_stays_missing_loses_its_databases(DbEngine engine)
    {
        await using var owned = await DbServer.StartAsync(engine);
        await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.External, ConnectionString = owned.AdminConnectionString });
        Assert.False(server.IsOwned, "premise: the janitor must see a server its run does not own");
        var dialect = server.Dialect;
        var blinking = Name("blinkrun");
        var dead = Name("deadrun1");
        var legacy = Name("old000");
        await using (var admin = await server.OpenAdminConnectionAsync())
        {
            foreach (var name in new[] { blinking, dead, legacy })
            {
                await admin.ExecuteAsync($"CREATE DATABASE {name}");
                Assert.False(await RunLiveness.IsAliveAsync(admin, dialect, RunOf(name), CancellationToken.None), $"premise: the run of {name} holds no mark yet");
            }
        }

        using var log = new LogCollector();
        var logger = log.CreateLogger("janitor");
        var sweep = Janitor.SweepAsync(server, TimeSpan.FromHours(1), logger, CancellationToken.None);
        await Expect.EventuallyAsync(() => Task.FromResult(Missing("blinkrun") && Missing("deadrun1")), TimeSpan.FromSeconds(30),
            "the janitor never found the marks of runs blinkrun and deadrun1 missing");
        Assert.False(sweep.IsCompleted, "premise: the janitor waits before it drops a run whose mark was missing once");
        await using (var mark = await RunLiveness.OpenMarkAsync(dialect, dialect.RunMarkConnectionString(server.AdminConnectionString, "blinkrun"), "blinkrun"))
        {
            var dropped = await sweep;

            await using var admin = await server.OpenAdminConnectionAsync();
            Assert.True(Exists(admin, blinking), $"the janitor dropped {blinking}, whose run took its mark again within the grace\n{log}");
            Assert.True(Exists(admin, legacy), $"the janitor dropped {legacy}, a young database of a run of an earlier kit version (no mark)\n{log}");
            Assert.False(Exists(admin, dead), $"the janitor kept {dead}, whose run held no mark at both looks\n{log}");
            Assert.Equal(1, dropped);
        }

        bool Missing(string runId) => log.Entries.Any(e => e.Message.Contains($"Run {runId} holds no mark", StringComparison.Ordinal));

        bool Exists(DbConnection admin, string name) => PoolSetup.DatabaseExists(admin, engine, name);
    }

    /// <summary>After a restart every live run needs a moment to take its mark again: a janitor whose second look comes
    /// sooner after a restart than <see cref="RunLiveness.ConfirmAfter"/> drops nothing.</summary>
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_restart_between_the_two_looks_keeps_every_database(DbEngine engine)
    {
        await using var owned = await DbServer.StartAsync(engine);
        await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.External, ConnectionString = owned.AdminConnectionString });
        var dead = Name("deadrun2");
        await using (var admin = await server.OpenAdminConnectionAsync())
        {
            await admin.ExecuteAsync($"CREATE DATABASE {dead}");
        }

        using var log = new LogCollector();
        var sweep = Janitor.SweepAsync(server, TimeSpan.FromHours(1), log.CreateLogger("janitor"), CancellationToken.None);
        await Expect.EventuallyAsync(() => Task.FromResult(log.Entries.Any(e => e.Message.Contains("Run deadrun2 holds no mark", StringComparison.Ordinal))),
            TimeSpan.FromSeconds(30), "the janitor never found the mark of run deadrun2 missing");
        Assert.False(sweep.IsCompleted, "premise: the janitor waits before it drops a run whose mark was missing once");
        await Task.Delay(RunLiveness.ConfirmAfter / 3); // time is what is under test: the restart comes well inside the grace
        Assert.False(sweep.IsCompleted, "premise: the restart comes before the janitor's second look");
        await owned.Instance.RestartAsync(CancellationToken.None);
        server.Dialect.ClearPool(server.AdminConnectionString); // the restart ended the pooled sessions
        await using (var admin = await server.OpenAdminConnectionAsync())
        {
            Assert.True(await RunLiveness.ServerUptimeAsync(admin, server.Dialect, CancellationToken.None) < RunLiveness.ConfirmAfter / 2,
                "premise: the server restarted, and is younger than the grace");
        }

        Assert.True(await sweep == 0, $"the janitor dropped a database though the server had restarted since its first look\n{log}");
        await using (var admin = await server.OpenAdminConnectionAsync())
        {
            Assert.True(PoolSetup.DatabaseExists(admin, engine, dead), $"the janitor dropped {dead} though the server had restarted since its first look\n{log}");
        }

        Assert.Contains(log.Entries, e => e.Id.Id == 94);
    }

    private static string Name(string runId) => $"{DatabaseNames.Prefix}{DateTime.UtcNow:yyMMddHHmmss}_{runId}_d1";

    private static string RunOf(string name) => name.Split('_')[2];
}
