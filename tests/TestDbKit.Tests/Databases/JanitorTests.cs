using System.Globalization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TestDbKit.Databases;

namespace TestDbKit.Tests.Databases;

public sealed class JanitorTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Drops_only_old_databases_of_other_runs_that_carry_the_kits_prefix(DbEngine engine)
    {
        await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        var stale = "tdk_200101000000_zzzzzz_d1";
        var fresh = $"tdk_{DateTime.UtcNow:yyMMddHHmmss}_yyyyyy_d1";
        var ours = DatabaseNames.New('d');
        var foreign = "tdk_not_ours";
        var unrelated = "app_data";
        await using var admin = await server.OpenAdminConnectionAsync();
        foreach (var name in new[] { stale, fresh, ours, foreign, unrelated })
        {
            await admin.ExecuteAsync($"CREATE DATABASE {name}");
        }

        var dropped = await Janitor.SweepAsync(server, TimeSpan.FromHours(1), NullLogger.Instance, default);

        Assert.Equal(1, dropped);
        Assert.False(PoolSetup.DatabaseExists(admin, engine, stale));
        foreach (var kept in new[] { fresh, ours, foreign, unrelated })
        {
            Assert.True(PoolSetup.DatabaseExists(admin, engine, kept), $"{kept} was dropped");
        }
    }

    /// <summary>Through the public option: a new pool sweeps its server with the pool's
    /// <see cref="DatabasePoolOptions.StaleDatabaseAge"/> and logs what it dropped through the pool's
    /// <see cref="DatabasePoolOptions.LoggerFactory"/>. The leftovers look old by the creation time in their names,
    /// which is all the janitor reads, so nothing waits in real time. 2 hours old goes with a 1 hour age and would
    /// stay with the default 3 hours; 30 minutes old stays.</summary>
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_pool_drops_kit_databases_older_than_StaleDatabaseAge_and_keeps_the_rest(DbEngine engine)
    {
        // A server of its own: the janitor sweeps each server once per process.
        await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        var now = DateTime.UtcNow;
        string Leftover(TimeSpan age, string runId) => string.Create(CultureInfo.InvariantCulture, $"tdk_{now - age:yyMMddHHmmss}_{runId}_d1");
        var old = Leftover(TimeSpan.FromHours(2), "oldrun");
        var young = Leftover(TimeSpan.FromMinutes(30), "newrun");
        var unrelated = new[] { "app_data", "tdk_not_ours" };
        await using var admin = await server.OpenAdminConnectionAsync();
        foreach (var name in unrelated.Append(old).Append(young))
        {
            await admin.ExecuteAsync($"CREATE DATABASE {name}");
            Assert.True(PoolSetup.DatabaseExists(admin, engine, name), $"{name} was not created");
        }

        using var log = new LogCollector();
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions
        {
            CreateSchema = Schemas.Small(engine),
            MaxDatabases = 1,
            StaleDatabaseAge = TimeSpan.FromHours(1),
            LoggerFactory = log,
        });

        Assert.False(PoolSetup.DatabaseExists(admin, engine, old), $"{old} (2 h old) was kept");
        foreach (var kept in unrelated.Append(young))
        {
            Assert.True(PoolSetup.DatabaseExists(admin, engine, kept), $"{kept} was dropped");
        }

        var dropped = Assert.Single(log.Entries, e => e.Message.StartsWith("Janitor dropped", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Information, dropped.Level);
        Assert.Contains(old, dropped.Message, StringComparison.Ordinal);
        Assert.Contains("oldrun", dropped.Message, StringComparison.Ordinal);
    }
}
