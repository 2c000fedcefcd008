using System.Data;
using TestDbKit.Sessions;

namespace TestDbKit.Tests.Sessions;

public sealed class TestSessionTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_pooled_session_the_server_dropped_between_tests_is_replaced_before_the_next_test(DbEngine engine)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions { MaxDatabases = 1 });
        var options = Options(engine);

        var first = await TestSession.StartAsync(options, pool, default);
        var firstId = await first.CurrentConnection().SessionIdAsync(engine);
        var name = first.Database.Name;
        Assert.True((await first.EndAsync(default)).IsClean);

        // What wait_timeout / idle_session_timeout does to a connection idle in the pool.
        await using (var admin = await pool.Server.OpenAdminConnectionAsync())
        {
            await admin.ExecuteAsync(engine == DbEngine.PostgreSql ? $"SELECT pg_terminate_backend({firstId})" : $"KILL {firstId}");
        }

        var second = await TestSession.StartAsync(options, pool, default);
        Assert.Equal(name, second.Database.Name);
        var connection = second.CurrentConnection();
        Assert.Equal(ConnectionState.Open, connection.State);
        Assert.NotEqual(firstId, await connection.SessionIdAsync(engine));
        await second.EndAsync(default);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Leaked_connections_are_counted_closed_and_fail_the_test_when_asked(DbEngine engine)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions { MaxDatabases = 1 });
        var session = await TestSession.StartAsync(Options(engine), pool, default);
        var leaked = await session.Database.OpenConnectionAsync();
        await using var closed = await session.Database.OpenConnectionAsync();
        await closed.CloseAsync();

        var report = await session.EndAsync(default);
        Assert.Equal(1, report.LeakedConnections);
        Assert.Contains("left 1 connection(s) open", report.ToString(), StringComparison.Ordinal);
        Assert.Equal(ConnectionState.Closed, leaked.State);

        var strict = await TestSession.StartAsync(Options(engine) with { FailOnLeak = true }, pool, default);
        _ = await strict.Database.OpenConnectionAsync();
        var e = await Assert.ThrowsAsync<ConnectionLeakException>(() => strict.EndAsync(default));
        Assert.Contains("Leaky.Test", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_connection_the_test_opened_itself_and_left_open_is_counted_and_its_session_ended(DbEngine engine)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions { MaxDatabases = 1 });
        var session = await TestSession.StartAsync(Options(engine), pool, default);
        var server = session.Database.Server;

        // The SQLAlchemy-style leak: opened from the connection string, never disposed.
        var leaked = server.CreateConnection(session.Database.ConnectionString);
        await leaked.OpenAsync();
        await leaked.ExecuteAsync("SELECT 1");

        // Opened the same way but disposed: back in the pool, idle, and no leak.
        await using (var tidy = server.CreateConnection(session.Database.ConnectionString))
        {
            await tidy.OpenAsync();
            await tidy.ExecuteAsync("SELECT 1");
        }

        var report = await session.EndAsync(default);
        Assert.Equal(1, report.LeakedConnections);
        Assert.Equal(1, report.OpenedByTest);
        Assert.True(report.SessionsEnded >= 1, report.ToString());
        Assert.Contains("1 of them opened by the test itself", report.ToString(), StringComparison.Ordinal);
        // xunit v2 shows a test's console output nowhere: the run report names the test.
        Assert.Contains(report.ToString(), RunReport.Capture().Leaks);

        // Its session was ended: the leaked object fails as a connection the server dropped does.
        await Databases.PoolSetup.SessionEndedAsync(() => leaked.ExecuteAsync("SELECT 1"), "the leaked connection");

        // The next test on the same database is not blamed for the earlier leak, and its connection is healthy.
        var next = await TestSession.StartAsync(Options(engine), pool, default);
        Assert.Equal(session.Database.Name, next.Database.Name);
        await next.CurrentConnection().ExecuteAsync("SELECT 1");
        Assert.True((await next.EndAsync(default)).IsClean);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Test_sessions_carry_their_database_tag_on_the_server(DbEngine engine)
    {
        // MySQL shows connection attributes only with the performance schema on, which MariaDB leaves off.
        await using var server = await DbServer.StartAsync(engine, new DbServerOptions
        {
            Settings = engine == DbEngine.MySql ? new Dictionary<string, string> { ["performance_schema"] = "ON" } : new Dictionary<string, string>(),
        });
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { MaxDatabases = 1 });
        var session = await TestSession.StartAsync(Options(engine), pool, default);
        var id = await session.CurrentConnection().SessionIdAsync(engine);

        var tag = await server.ScalarAsync(engine == DbEngine.PostgreSql
            ? $"SELECT application_name FROM pg_stat_activity WHERE pid = {id}"
            : $"SELECT ATTR_VALUE FROM performance_schema.session_connect_attrs WHERE PROCESSLIST_ID = {id} AND ATTR_NAME = 'program_name'");
        Assert.Equal("testdbkit-test-" + session.Database.Name, tag);
        Assert.True((await session.EndAsync(default)).IsClean);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_killed_connection_is_discarded_and_reported(DbEngine engine)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions { MaxDatabases = 1 });
        var session = await TestSession.StartAsync(Options(engine), pool, default);
        var id = await session.CurrentConnection().SessionIdAsync(engine);
        await using (var admin = await pool.Server.OpenAdminConnectionAsync())
        {
            await admin.ExecuteAsync(engine == DbEngine.PostgreSql ? $"SELECT pg_terminate_backend({id})" : $"KILL {id}");
        }

        var report = await session.EndAsync(default);
        Assert.True(report.ConnectionDiscarded);
        Assert.Contains("discarded", report.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_test_that_ends_inside_its_open_transaction_on_a_healthy_connection_is_not_reported_as_broken(DbEngine engine)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions
        {
            MaxDatabases = 1,
            CreateSchema = c => Health.CreateItemsAsync(c, engine),
        });
        var session = await TestSession.StartAsync(Options(engine), pool, default);
        var connection = session.CurrentConnection();
        var id = await connection.SessionIdAsync(engine);
        var transaction = await connection.BeginTransactionAsync();
        await connection.ExecuteAsync("INSERT INTO items (tag) VALUES ('uncommitted')", transaction);
        await ServerSessions.WaitUntilInTransactionAsync(pool.Server, engine, id); // the premise: a live session, mid-transaction

        // MySqlConnector refuses a command outside the connection's open transaction (InvalidOperationException):
        // that refusal says nothing about the session, which is alive.
        var report = await session.EndAsync(default);
        Assert.False(report.ConnectionDiscarded, report.ToString());
        Assert.True(report.IsClean, report.ToString());
    }

    /// <summary>The base classes' end of a test returns before the database is emptied; the lease's place comes back
    /// only once it is, so whoever leases next (here the same database, the pool's only one) finds it clean.</summary>
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_session_ends_before_its_reset_and_the_next_lease_still_finds_the_database_clean(DbEngine engine)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { CreateSchema = Databases.Schemas.Small(engine), MaxDatabases = 1 });
        var options = Options(engine);
        for (var round = 0; round < 5; round++)
        {
            var session = await TestSession.StartAsync(options, pool, default);
            Assert.Equal(0L, Convert.ToInt64(await session.CurrentConnection().ScalarAsync("SELECT COUNT(*) FROM items"), System.Globalization.CultureInfo.InvariantCulture));
            await session.CurrentConnection().ExecuteAsync("INSERT INTO items (tag) VALUES ('a'); INSERT INTO notes (tag) VALUES ('n')");
            Assert.True((await session.EndAsync(default)).IsClean);
        }
    }

    /// <summary>With room for more databases, the next test takes another ready one while the last is emptied; each
    /// test still starts on a clean database.</summary>
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Back_to_back_sessions_on_a_pool_with_room_each_start_clean(DbEngine engine)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { CreateSchema = Databases.Schemas.Small(engine), MaxDatabases = 3 });
        var options = Options(engine);
        for (var round = 0; round < 12; round++)
        {
            var session = await TestSession.StartAsync(options, pool, default);
            Assert.Equal(0L, Convert.ToInt64(await session.CurrentConnection().ScalarAsync("SELECT COUNT(*) FROM items"), System.Globalization.CultureInfo.InvariantCulture));
            await session.CurrentConnection().ExecuteAsync("INSERT INTO items (tag) VALUES ('a')");
            Assert.True((await session.EndAsync(default)).IsClean);
        }
    }

    private static SessionOptions Options(DbEngine engine) =>
        new("Leaky.Test", engine, (_, _) => Task.CompletedTask, typeof(TestSessionTests), IsolationMode.Reset, false, false);
}
