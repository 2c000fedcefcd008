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
}
