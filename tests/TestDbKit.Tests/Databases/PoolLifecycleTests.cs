using System.Data.Common;
using TestDbKit.Engines;
using static TestDbKit.Tests.Databases.PoolSetup;

namespace TestDbKit.Tests.Databases;

/// <summary>Creating, leasing and disposing a pool: bad input, broken schemas, databases that cannot be reset, and what is dropped.</summary>
public sealed class PoolLifecycleTests
{
    [Theory]
    [MemberData(nameof(PoolSetup.TrackedSetups), MemberType = typeof(PoolSetup))]
    public async Task A_database_whose_reset_fails_is_replaced_never_leased_dirty(DbEngine engine, bool triggers)
    {
        await using var pool = await CreatePoolAsync(engine, triggers, Schemas.Small(engine), maxDatabases: 1);
        string broken;
        await using (var db = await pool.LeaseAsync())
        {
            broken = db.Name;
            await using var connection = await db.OpenConnectionAsync();
            await connection.InsertItemAsync(engine, "dirty");
            // Break the reset routine, as a test that drops the kit's objects would.
            await connection.ExecuteAsync(engine == DbEngine.PostgreSql ? "DROP FUNCTION testdbkit.reset(boolean)" : "DROP PROCEDURE testdbkit_reset");
        }

        await using (var db = await pool.LeaseAsync())
        {
            Assert.NotEqual(broken, db.Name);
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("items"));
        }

        await using var admin = await pool.Server.OpenAdminConnectionAsync();
        await TestSupport.EventuallyAsync(() => !DatabaseExists(admin, engine, broken), TimeSpan.FromSeconds(20), $"{broken} is dropped");
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_failing_schema_is_a_clear_error_and_leaves_no_database(DbEngine engine)
    {
        var server = await DbServer.SharedAsync(engine);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => DatabasePool.CreateAsync(server,
            new DatabasePoolOptions { CreateSchema = c => c.ExecuteAsync("CREATE TABLE broken (") }));
        Assert.Contains("CreateSchema failed on database tdk_", e.Message, StringComparison.Ordinal);
        var name = e.Message.Split(' ')[4];
        await using var admin = await server.OpenAdminConnectionAsync();
        Assert.False(DatabaseExists(admin, engine, name));
    }

    [Fact]
    public async Task Bad_options_are_refused()
    {
        var server = await DbServer.SharedAsync(DbEngine.PostgreSql);
        await Assert.ThrowsAsync<ArgumentNullException>(() => DatabasePool.CreateAsync(null!, new DatabasePoolOptions()));
        await Assert.ThrowsAsync<ArgumentNullException>(() => DatabasePool.CreateAsync(server, null!));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => DatabasePool.CreateAsync(server, new DatabasePoolOptions { MaxDatabases = 0 }));
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Disposing_the_pool_drops_its_databases(DbEngine engine)
    {
        var pool = await CreatePoolAsync(engine, Schemas.Small(engine), maxDatabases: 2);
        string name;
        await using (var db = await pool.LeaseAsync())
        {
            name = db.Name;
        }

        await pool.DisposeAsync();
        await using var admin = await pool.Server.OpenAdminConnectionAsync();
        Assert.False(DatabaseExists(admin, engine, name));
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Disposing_the_pool_drops_leased_databases_too(DbEngine engine)
    {
        var pool = await CreatePoolAsync(engine, Schemas.Small(engine), maxDatabases: 2);
        var db = await pool.LeaseAsync();
        await pool.DisposeAsync();
        await db.DisposeAsync(); // a late return must not fail
        await using var admin = await pool.Server.OpenAdminConnectionAsync();
        Assert.False(DatabaseExists(admin, engine, db.Name));
    }
}
