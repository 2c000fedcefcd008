using System.Data;
using System.Data.Common;
using System.Net.Sockets;
using MySqlConnector;
using Npgsql;

namespace TestDbKit.Tests.Diagnostics;

/// <summary>Every rule of <see cref="DbErrors"/> is proven on the real error of a real server.</summary>
public sealed class DbErrorsTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_unique_violation_is_an_integrity_violation_and_not_transient(DbEngine engine)
    {
        await using var db = await ScratchDatabase.CreateAsync(engine);
        await using var connection = await db.OpenAsync();
        await connection.ExecuteAsync("CREATE TABLE t (id INT PRIMARY KEY)");
        await connection.ExecuteAsync("INSERT INTO t VALUES (1)");

        var e = await ServerErrorAsync(engine, () => connection.ExecuteAsync("INSERT INTO t VALUES (1)"));
        Assert.Equal(engine == DbEngine.PostgreSql ? "23505" : "1062", CodeOf(e));
        Assert.True(DbErrors.IsIntegrityViolation(e));
        Assert.False(DbErrors.IsTransient(e));
        Assert.False(DbErrors.IsConnectionLost(e));
        Assert.Equal(ConnectionState.Open, connection.State);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_foreign_key_violation_is_an_integrity_violation(DbEngine engine)
    {
        await using var db = await ScratchDatabase.CreateAsync(engine);
        await using var connection = await db.OpenAsync();
        await connection.ExecuteAsync("CREATE TABLE parent (id INT PRIMARY KEY)");
        await connection.ExecuteAsync("CREATE TABLE child (id INT PRIMARY KEY, parent_id INT NOT NULL, FOREIGN KEY (parent_id) REFERENCES parent (id))");

        var e = await ServerErrorAsync(engine, () => connection.ExecuteAsync("INSERT INTO child VALUES (1, 42)"));
        Assert.Equal(engine == DbEngine.PostgreSql ? "23503" : "1452", CodeOf(e));
        Assert.True(DbErrors.IsIntegrityViolation(e));
        Assert.False(DbErrors.IsTransient(e));
    }

    [Fact]
    public async Task PostgreSQL_aborts_the_transaction_after_an_error_25P02()
    {
        await using var db = await ScratchDatabase.CreateAsync(DbEngine.PostgreSql);
        await using var connection = await db.OpenAsync();
        await connection.ExecuteAsync("CREATE TABLE t (id INT PRIMARY KEY)");
        await using var tx = await connection.BeginTransactionAsync();
        await connection.ExecuteAsync("INSERT INTO t VALUES (1)", tx);
        var first = await Assert.ThrowsAsync<PostgresException>(() => connection.ExecuteAsync("INSERT INTO t VALUES (1)", tx));
        Assert.Equal("23505", first.SqlState);
        Assert.False(DbErrors.IsTransactionAborted(first));

        var next = await Assert.ThrowsAsync<PostgresException>(() => connection.ExecuteAsync("INSERT INTO t VALUES (2)", tx));
        Assert.Equal("25P02", next.SqlState);
        Assert.True(DbErrors.IsTransactionAborted(next));
        Assert.False(DbErrors.IsConnectionLost(next));
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_deadlock_victim_has_an_aborted_transaction_worth_retrying(DbEngine engine)
    {
        await using var db = await ScratchDatabase.CreateAsync(engine);
        await using var a = await db.OpenAsync();
        await using var b = await db.OpenAsync();
        await a.ExecuteAsync("CREATE TABLE t (id INT PRIMARY KEY, v INT)");
        await a.ExecuteAsync("INSERT INTO t VALUES (1, 0), (2, 0)");
        await using var txA = await a.BeginTransactionAsync();
        await using var txB = await b.BeginTransactionAsync();
        await a.ExecuteAsync("UPDATE t SET v = 1 WHERE id = 1", txA);
        await b.ExecuteAsync("UPDATE t SET v = 1 WHERE id = 2", txB);

        // Each now waits for the other's row: the server picks a victim.
        var results = await Task.WhenAll(
            Attempt(() => a.ExecuteAsync("UPDATE t SET v = 2 WHERE id = 2", txA)),
            Attempt(() => b.ExecuteAsync("UPDATE t SET v = 2 WHERE id = 1", txB)));
        var victim = Assert.Single(results, r => r is not null)!;
        Assert.True(DbErrors.IsTransactionAborted(victim));
        Assert.True(DbErrors.IsTransient(victim));
        Assert.False(DbErrors.IsConnectionLost(victim));
    }

    [Fact]
    public async Task A_MySQL_lock_wait_timeout_is_transient()
    {
        await using var db = await ScratchDatabase.CreateAsync(DbEngine.MySql);
        await using var a = await db.OpenAsync();
        await using var b = await db.OpenAsync();
        await a.ExecuteAsync("CREATE TABLE t (id INT PRIMARY KEY, v INT)");
        await a.ExecuteAsync("INSERT INTO t VALUES (1, 0)");
        await using var txA = await a.BeginTransactionAsync();
        await a.ExecuteAsync("UPDATE t SET v = 1 WHERE id = 1", txA);
        await b.ExecuteAsync("SET SESSION innodb_lock_wait_timeout = 1");

        var e = await Assert.ThrowsAsync<MySqlException>(() => b.ExecuteAsync("UPDATE t SET v = 2 WHERE id = 1"));
        Assert.Equal(1205, e.Number);
        Assert.True(DbErrors.IsTransient(e));
        Assert.True(DbErrors.IsTransactionAborted(e));
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_killed_session_is_a_lost_connection(DbEngine engine)
    {
        await using var db = await ScratchDatabase.CreateAsync(engine);
        await using var victim = await db.OpenAsync();
        var id = await victim.SessionIdAsync(engine);
        await using (var admin = await db.Server.OpenAdminConnectionAsync())
        {
            await admin.ExecuteAsync(engine == DbEngine.PostgreSql ? $"SELECT pg_terminate_backend({id})" : $"KILL {id}");
        }

        var e = await Expect.ConnectionLostAsync(() => victim.ExecuteAsync("SELECT 1"), "a command on the killed session");
        if (engine == DbEngine.PostgreSql)
        {
            Assert.Equal("57P01", Assert.IsType<PostgresException>(e).SqlState); // the server says why before it hangs up
        }

        Assert.NotEqual(ConnectionState.Open, victim.State);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_session_dropped_by_the_idle_timeout_is_a_lost_connection(DbEngine engine)
    {
        await using var db = await ScratchDatabase.CreateAsync(engine);
        await using var victim = await db.OpenAsync();
        var id = await victim.SessionIdAsync(engine);
        await victim.ExecuteAsync(engine == DbEngine.PostgreSql ? "SET idle_session_timeout = '300ms'" : "SET SESSION wait_timeout = 1");

        // Wait for the server to drop the idle session: watch for it from another session, not the clock.
        await ServerSessions.WaitUntilGoneAsync(db.Server, engine, id);

        await Expect.ConnectionLostAsync(() => victim.ExecuteAsync("SELECT 1"), "a command on the session the idle timeout ended");
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_server_that_stops_under_an_open_connection_is_a_lost_connection(DbEngine engine)
    {
        var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        await using var connection = server.CreateConnection();
        await connection.OpenAsync();
        await server.DisposeAsync();

        await Expect.ConnectionLostAsync(() => connection.ExecuteAsync("SELECT 1"), "a command after the server stopped");
    }

    [Fact]
    public void Transport_errors_are_followed_through_wrappers()
    {
        var wrapped = new InvalidOperationException("driver", new IOException("read", new SocketException((int)SocketError.ConnectionReset)));
        Assert.True(DbErrors.IsConnectionLost(wrapped));
        Assert.True(DbErrors.IsConnectionLost(new AggregateException(new ArgumentException("x"), new EndOfStreamException())));
        Assert.False(DbErrors.IsConnectionLost(new FileNotFoundException("not a session")));
        Assert.False(DbErrors.IsConnectionLost(new InvalidOperationException("unrelated")));
        Assert.False(DbErrors.IsTransient(new ArgumentException("bad input")));
        Assert.Throws<ArgumentNullException>(() => DbErrors.IsTransient(null!));
    }

    /// <summary>The server's own error for <paramref name="engine"/>, of exactly the driver's server-error type.</summary>
    private static async Task<DbException> ServerErrorAsync(DbEngine engine, Func<Task> action) => engine == DbEngine.PostgreSql
        ? await Assert.ThrowsAsync<PostgresException>(action)
        : await Assert.ThrowsAsync<MySqlException>(action);

    private static string? CodeOf(DbException e) => e switch
    {
        PostgresException pg => pg.SqlState,
        MySqlException my => my.Number.ToString(System.Globalization.CultureInfo.InvariantCulture),
        _ => null,
    };

    private static async Task<Exception?> Attempt(Func<Task> action)
    {
        try
        {
            await action();
            return null;
        }
        catch (DbException e)
        {
            return e;
        }
    }
}
