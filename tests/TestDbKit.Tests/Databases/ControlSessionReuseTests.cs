using System.Data.Common;
using System.Globalization;
using TestDbKit.Engines;

namespace TestDbKit.Tests.Databases;

/// <summary>
/// MySQL's reset procedure runs in its database from a control session that has none, so the server reports a
/// change of schema after each CALL, and MySqlConnector re-authenticates such a pooled session (COM_CHANGE_USER) at
/// its next open. That also dropped the server's parsed copy of the procedure: every reset paid both (bench reset
/// --part breakdown). The reset turns the report off first. A re-authenticated session takes the server's defaults again,
/// which is what these tests look at, on the one pooled session the connection string gives (same connection id).
/// </summary>
public sealed class ControlSessionReuseTests
{
    private const DbEngine Engine = DbEngine.MySql;

    [Fact]
    public async Task The_pooled_control_session_keeps_its_state_across_resets()
    {
        await using var server = await DbServer.StartAsync(Engine, new DbServerOptions { Provider = DbServerProvider.Local });
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = Schemas.Small(Engine), MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();
        await using var connection = await db.OpenConnectionAsync();
        await connection.InsertItemAsync(Engine, "first");
        await db.ResetAsync();

        // Premise: a pooled session with no database that CALLs the procedure as the kit did before is
        // re-authenticated at its next open (a connection string of its own, so a pool of its own).
        var premise = pool.Dialect.WithApplicationName(pool.Dialect.ControlConnectionString(server.AdminConnectionString, db.Name), "premise");
        var (id, _) = await MarkAsync(pool, premise);
        await using (var c = await pool.Dialect.OpenAsync(premise, CancellationToken.None))
        {
            await c.ExecuteAsync($"CALL `{db.Name}`.testdbkit_reset(TRUE)");
        }

        var (premiseId, premiseMark) = await ReadMarkAsync(pool, premise);
        Assert.Equal(id, premiseId);
        Assert.NotEqual(4321L, Convert.ToInt64(premiseMark, CultureInfo.InvariantCulture));
        pool.Dialect.ClearPool(premise);

        // The kit's own control session (the same connection string, so the same pool) through five resets.
        var control = pool.Dialect.ControlConnectionString(server.AdminConnectionString, db.Name);
        var (controlId, _) = await MarkAsync(pool, control);
        for (var test = 0; test < 5; test++)
        {
            await connection.InsertItemAsync(Engine, $"test {test}");
            await db.ResetAsync();
            Assert.Equal(0, await connection.CountAsync("items"));
        }

        var (afterId, mark) = await ReadMarkAsync(pool, control);
        Assert.Equal(controlId, afterId); // premise: the resets ran on that one session
        Assert.Equal(4321L, Convert.ToInt64(mark, CultureInfo.InvariantCulture));
    }

    private static async Task<(long Id, object? Mark)> MarkAsync(DatabasePool pool, string cs)
    {
        await using var c = await pool.Dialect.OpenAsync(cs, CancellationToken.None);
        await c.ExecuteAsync("SET SESSION group_concat_max_len = 4321");
        return await ReadAsync(c);
    }

    private static async Task<(long Id, object? Mark)> ReadMarkAsync(DatabasePool pool, string cs)
    {
        await using var c = await pool.Dialect.OpenAsync(cs, CancellationToken.None);
        return await ReadAsync(c);
    }

    private static async Task<(long Id, object? Mark)> ReadAsync(DbConnection c)
    {
        await using var command = c.CreateCommand();
        command.CommandText = "SELECT CONNECTION_ID(), @@SESSION.group_concat_max_len";
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        return (Convert.ToInt64(reader.GetValue(0), CultureInfo.InvariantCulture), reader.GetValue(1));
    }
}
