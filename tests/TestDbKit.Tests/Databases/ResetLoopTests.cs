namespace TestDbKit.Tests.Databases;

public sealed class ResetLoopTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Resets_never_touch_an_idle_connection_of_the_test(DbEngine engine)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { CreateSchema = Schemas.Chain(engine, 5), MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();
        await using var writer = await db.OpenConnectionAsync();
        for (var i = 0; i < 300; i++)
        {
            await writer.ExecuteAsync("INSERT INTO t0 (v) VALUES (1);INSERT INTO t1 (v) VALUES (1);INSERT INTO t4 (v) VALUES (1)");
            await db.ResetAsync();
            Assert.Equal(0, await writer.CountAsync("t0"));
        }
    }
}
