using System.Data.Common;
using TestDbKit.Tests.Databases;

namespace TestDbKit.Tests.Faults;

/// <summary>Faults that reach the whole server, each on a server of the test's own.</summary>
public sealed class ServerFaultTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_crash_loses_the_connections_but_no_committed_row_and_the_server_comes_back(DbEngine engine)
    {
        await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();
        await using var before = await db.OpenConnectionAsync();
        for (var i = 0; i < 50; i++)
        {
            await before.InsertItemAsync(engine, $"row{i}");
        }

        var port = server.Dialect.Parse(server.AdminConnectionString).Port;
        await db.Faults.CrashServerAsync();

        await Expect.ConnectionLostAsync(() => before.ScalarAsync("SELECT 1"), "a connection opened before the crash");
        Assert.Equal(port, server.Dialect.Parse(server.AdminConnectionString).Port);
        await using var after = await db.OpenConnectionAsync();
        Assert.Equal(50, await after.CountAsync("items"));
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_restart_keeps_port_and_data(DbEngine engine)
    {
        await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 });
        await using (var db = await pool.LeaseAsync())
        {
            await using (var c = await db.OpenConnectionAsync())
            {
                await c.InsertItemAsync(engine, "kept");
            }

            var pid = server.Instance.ProcessId;
            await db.Faults.RestartServerAsync();
            Assert.NotEqual(pid, server.Instance.ProcessId);

            await using var after = await db.OpenConnectionAsync();
            Assert.Equal(1, await after.CountAsync("items"));
        }

        // The pool still resets the database after the restart (tracking survived it).
        await using var next = await pool.LeaseAsync();
        await using var connection = await next.OpenConnectionAsync();
        Assert.Equal(0, await connection.CountAsync("items"));
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task After_a_crash_the_pool_still_leaves_no_row_for_the_next_test(DbEngine engine)
    {
        await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 });
        await using (var db = await pool.LeaseAsync())
        {
            await using (var c = await db.OpenConnectionAsync())
            {
                await c.InsertItemAsync(engine, "survives the crash");
            }

            // A crash empties the in-memory dirty set; the kit must still find the row.
            await db.Faults.CrashServerAsync();
        }

        await using var next = await pool.LeaseAsync();
        await using var connection = await next.OpenConnectionAsync();
        Assert.Equal(0, await connection.CountAsync("items"));
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_frozen_server_answers_nothing_until_it_is_thawed(DbEngine engine)
    {
        await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();
        // On a timeout Npgsql sends a cancel request over a new connection, and waits its connect timeout
        // (15 s by default) for a frozen server: a client that wants to notice a freeze quickly sets it low.
        var cs = engine == DbEngine.PostgreSql ? db.ConnectionString + ";Timeout=2" : db.ConnectionString;
        await using var connection = server.CreateConnection(cs);
        await connection.OpenAsync();

        await using (await db.Faults.FreezeServerAsync())
        {
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT 1";
            command.CommandTimeout = 1;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var e = await Assert.ThrowsAnyAsync<DbException>(() => command.ExecuteScalarAsync());
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"the timeout took {clock.Elapsed}");
            Assert.True(DbErrors.IsTransient(e), $"{e.GetType().Name}: {e.Message}");
        }

        await using var fresh = await db.OpenConnectionAsync();
        Assert.Equal(1, Convert.ToInt32(await fresh.ScalarAsync("SELECT 1")));
    }

    [Fact]
    public async Task Server_faults_refuse_the_shared_server()
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(DbEngine.PostgreSql), new DatabasePoolOptions { MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => db.Faults.CrashServerAsync());
        Assert.Contains("would hurt every test running on it", e.Message, StringComparison.Ordinal);
        Assert.Contains("DbServer.StartAsync", e.Message, StringComparison.Ordinal);
        Assert.Contains("[DedicatedServer]", e.Message, StringComparison.Ordinal);
    }
}

public sealed class CapacityFaultTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Exhausted_connections_refuse_new_ones_until_released(DbEngine engine)
    {
        await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();
        await using (await db.Faults.ExhaustConnectionsAsync())
        {
            var cs = server.Dialect.ForProbe(db.ConnectionString, TimeSpan.FromSeconds(5));
            await using var refused = server.CreateConnection(cs);
            var e = await Assert.ThrowsAnyAsync<DbException>(() => refused.OpenAsync());
            Assert.True(DbErrors.IsTransient(e), $"{e.GetType().Name}: {e.Message}");
        }

        await using var after = await db.OpenConnectionAsync();
        Assert.Equal(1, Convert.ToInt32(await after.ScalarAsync("SELECT 1")));
    }

    [Fact]
    public async Task A_read_only_database_refuses_writes_as_after_a_failover_and_is_restored()
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(DbEngine.PostgreSql),
            new DatabasePoolOptions { CreateSchema = Schemas.Small(DbEngine.PostgreSql), MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();
        await using (await db.Faults.SetReadOnlyAsync())
        {
            await using var c = await db.OpenConnectionAsync();
            var e = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => c.ExecuteAsync("INSERT INTO notes (tag) VALUES ('x')"));
            Assert.Equal("25006", e.SqlState);
            Assert.True(DbErrors.IsTransient(e));
        }

        await using var after = await db.OpenConnectionAsync();
        await after.ExecuteAsync("INSERT INTO notes (tag) VALUES ('x')");
    }
}
