using System.Data.Common;
using MySqlConnector;
using Npgsql;
using TestDbKit.Sessions;
using static TestDbKit.Tests.Databases.PoolSetup;

namespace TestDbKit.Tests.Databases;

/// <summary>
/// Issue 16, item 1, without an ORM: sessions that died during a lease never reach the next lease through a pool the
/// kit cannot clear (a data source the test built itself, as EF's Npgsql provider does), healthy pooled sessions are
/// still reused, other databases' sessions are never touched, and the kit's leak count still sees a new generation's
/// connections. One database per pool, so the next lease is the same database.
/// </summary>
public sealed class SessionHygieneTests
{
    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task A_session_killed_in_a_data_source_of_the_tests_own_never_reaches_the_next_lease(DbEngine engine)
    {
        // Data sources kept by connection string, as EF's Npgsql provider keeps the one it builds for a model with
        // MapEnum: the kit cannot clear their pools.
        var sources = new Dictionary<string, DbDataSource>();
        DbDataSource SourceFor(string cs) => sources.TryGetValue(cs, out var s) ? s : sources[cs] = DataSource(engine, cs);
        await using var pool = await CreatePoolAsync(engine, Schemas.Small(engine), maxDatabases: 1);
        DbDataSource first;
        long pooled;
        await using (var db = await pool.LeaseAsync())
        {
            first = SourceFor(db.ConnectionString);
            pooled = await SessionOfAsync(first, engine);
            Assert.Equal(pooled, await SessionOfAsync(first, engine)); // it is pooled in the data source
            Assert.True(await db.Faults.KillAllSessionsAsync() >= 1);
            await ServerSessions.WaitUntilGoneAsync(pool.Server, engine, pooled);
        }

        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await SourceFor(db.ConnectionString).OpenConnectionAsync();
            Assert.NotEqual(pooled, await connection.SessionIdAsync(engine));
            await connection.InsertItemAsync(engine, "after the kill");
        }

        // The old data source still holds the dead session: what the kit protected the next lease from.
        await SessionEndedAsync(async () =>
        {
            await using var stale = await first.OpenConnectionAsync();
            await stale.ExecuteAsync("SELECT 1");
        }, "the old data source's pooled session");
        foreach (var source in sources.Values)
        {
            await source.DisposeAsync();
        }
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task Healthy_pooled_sessions_stay_in_use_across_leases_and_the_strings_stay_the_same(DbEngine engine)
    {
        await using var pool = await CreatePoolAsync(engine, Schemas.Small(engine), maxDatabases: 1);
        string connectionString;
        long session;
        await using (var db = await pool.LeaseAsync())
        {
            connectionString = db.ConnectionString;
            await using var connection = await db.OpenConnectionAsync();
            await connection.InsertItemAsync(engine, "first");
            session = await connection.SessionIdAsync(engine);
        }

        for (var lease = 0; lease < 5; lease++)
        {
            await using var db = await pool.LeaseAsync();
            Assert.Equal(connectionString, db.ConnectionString);
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(session, await connection.SessionIdAsync(engine));
            Assert.Equal(0, await connection.CountAsync("items"));
            await connection.InsertItemAsync(engine, "again");
        }
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task A_new_generation_ends_sessions_of_its_database_only(DbEngine engine)
    {
        await using var pool = await CreatePoolAsync(engine, Schemas.Small(engine), maxDatabases: 2);
        await using var neighbour = await pool.LeaseAsync();
        await using var neighbours = await neighbour.OpenConnectionAsync();
        var neighbourSession = await neighbours.SessionIdAsync(engine);
        string name;
        await using (var db = await pool.LeaseAsync())
        {
            name = db.Name;
            await using var connection = await db.OpenConnectionAsync();
            await connection.InsertItemAsync(engine, "doomed");
            await db.Faults.KillSessionAsync(connection);
            await SessionEndedAsync(() => connection.ExecuteAsync("SELECT 1"), "the killed connection");
        }

        Assert.Equal(1, pool.SessionGeneration(name));
        Assert.Equal(0, pool.SessionGeneration(neighbour.Name));
        Assert.Equal(neighbourSession, await neighbours.SessionIdAsync(engine)); // alive, the same session
        await neighbours.InsertItemAsync(engine, "still here");
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task The_leak_check_counts_the_connections_of_a_new_generation(DbEngine engine)
    {
        await using var pool = await CreatePoolAsync(engine, Schemas.Small(engine), maxDatabases: 1);
        var options = new SessionOptions("Leaky.Test", engine, (_, _) => Task.CompletedTask, typeof(SessionHygieneTests), IsolationMode.Reset, false, false);
        var killer = await TestSession.StartAsync(options, pool, default);
        await killer.Database.Faults.KillSessionAsync(killer.CurrentConnection());
        Assert.True((await killer.EndAsync(default)).ConnectionDiscarded);

        var session = await TestSession.StartAsync(options, pool, default);
        Assert.Equal(1, pool.SessionGeneration(session.Database.Name));
        var leaked = session.Database.Server.CreateConnection(session.Database.ConnectionString);
        await leaked.OpenAsync();
        Assert.Equal(2, session.Database.ConnectionsInUse); // the kit's Connection and the leaked one

        var report = await session.EndAsync(default);
        Assert.Equal(1, report.OpenedByTest);
        Assert.True(report.SessionsEnded >= 1);
        await SessionEndedAsync(() => leaked.ExecuteAsync("SELECT 1"), "the leaked connection");
        await leaked.DisposeAsync();
    }

    private static DbDataSource DataSource(DbEngine engine, string connectionString) => engine == DbEngine.PostgreSql
        ? new NpgsqlDataSourceBuilder(connectionString).Build()
        : new MySqlDataSource(new MySqlConnectionStringBuilder(connectionString) { ConnectionReset = false }.ConnectionString);

    private static async Task<long> SessionOfAsync(DbDataSource source, DbEngine engine)
    {
        await using var connection = await source.OpenConnectionAsync();
        return await connection.SessionIdAsync(engine);
    }
}
