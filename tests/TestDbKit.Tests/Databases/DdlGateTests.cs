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

    /// <summary>Another database's counter restart under way (its start tallied, its end not yet) makes the count
    /// untrustworthy: the reset must read the fingerprint rather than trust a count that could cancel out a DDL.</summary>
    [Fact]
    public async Task A_counter_restart_under_way_elsewhere_makes_the_reset_read_the_fingerprint()
    {
        await using var server = await DbServer.StartAsync(Engine, new DbServerOptions { Provider = DbServerProvider.Local });
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = Schemas.Small(Engine), MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();
        await using var connection = await db.OpenConnectionAsync();
        await using var admin = await server.OpenAdminConnectionAsync();
        await connection.InsertItemAsync(Engine, "first");
        await db.ResetAsync();
        await admin.ExecuteAsync($"UPDATE `{db.Name}`.testdbkit_schema SET fingerprint = 'not this schema'");

        // Premise: with no restart under way, the gate stays shut (the wrong fingerprint is not read).
        await connection.InsertItemAsync(Engine, "second");
        await db.ResetAsync();
        Assert.Equal(0L, Convert.ToInt64(await admin.ScalarAsync("SELECT kit_started - kit_done FROM testdbkit.own_ddl"), System.Globalization.CultureInfo.InvariantCulture));

        await admin.ExecuteAsync("UPDATE testdbkit.own_ddl SET kit_started = kit_started + 1");
        await connection.InsertItemAsync(Engine, "third");
        await Assert.ThrowsAsync<SchemaChangedException>(() => db.ResetAsync());
    }
}
