namespace TestDbKit.Tests.Databases;

/// <summary>
/// MySQL's reset reads the schema fingerprint only when the server's DDL counts moved since the database's last
/// reset (the fingerprint costs 10-20 ms at 50-200 tables). A stored fingerprint that no longer matches shows which
/// resets read it: one that did would replace the database. A server of the test's own, so that no neighbour's DDL
/// moves the counts.
/// </summary>
public sealed class DdlGateTests
{
    private const DbEngine Engine = DbEngine.MySql;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Resets_without_DDL_leave_the_fingerprint_unread_and_DDL_anywhere_opens_the_gate(bool triggers)
    {
        await using var server = await DbServer.StartAsync(Engine, new DbServerOptions { Provider = DbServerProvider.Local });
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions
        {
            CreateSchema = Schemas.Small(Engine),
            MaxDatabases = 1,
            TrackWithTriggers = triggers,
        });
        await using var db = await pool.LeaseAsync();
        await using var connection = await db.OpenConnectionAsync();
        await using var admin = await server.OpenAdminConnectionAsync();
        await connection.InsertItemAsync(Engine, "first");
        await db.ResetAsync(); // takes in the DDL of the pool's own set-up

        await admin.ExecuteAsync($"UPDATE `{db.Name}`.testdbkit_schema SET fingerprint = 'not this schema'");
        // Rows written and ids restarted (the reset's own ALTER TABLE .. AUTO_INCREMENT counts as DDL too).
        for (var test = 0; test < 3; test++)
        {
            await connection.InsertItemAsync(Engine, $"test {test}");
            await db.ResetAsync();
            Assert.Equal(0, await connection.CountAsync("items"));
        }

        // DDL in another database moves the server's counts: the fingerprint is read, and this one differs.
        await admin.ExecuteAsync("CREATE DATABASE tdk_gate_elsewhere; DROP DATABASE tdk_gate_elsewhere");
        await connection.InsertItemAsync(Engine, "after DDL");
        await Assert.ThrowsAsync<SchemaChangedException>(() => db.ResetAsync());
    }
}
