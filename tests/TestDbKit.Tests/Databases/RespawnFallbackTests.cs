using System.Data.Common;
using TestDbKit.Engines;
using static TestDbKit.Tests.Databases.PoolSetup;

namespace TestDbKit.Tests.Databases;

/// <summary>Respawn resets where the kit's change tracking cannot be installed.</summary>
public sealed class RespawnFallbackTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Respawn_is_the_fallback_and_resets_as_well(DbEngine engine)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { CreateSchema = Schemas.Cycle(engine), MaxDatabases = 1, UseRespawn = true });
        Assert.False(pool.IsTracking);
        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            await connection.ExecuteAsync("INSERT INTO a (id) VALUES (1)");
            await connection.ExecuteAsync("INSERT INTO b (id, a_id) VALUES (1, 1)");
        }

        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("a") + await connection.CountAsync("b"));
        }
    }
}
