using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using MySqlConnector;
using Npgsql;
using TestDbKit.Tests.Common;

namespace TestDbKit.EntityFrameworkCore.Tests;

/// <summary>
/// Issue 16, item 1: a session killed during one lease never reaches a later lease of the same database, whichever
/// pool holds it: the NpgsqlDataSource EF's Npgsql provider builds for itself when the model maps an enum, the pool
/// of the string Pomelo rewrites, pools of strings shaped by TestDbOptions.ConnectionString. One database per pool
/// (MaxDatabases = 1), so the next lease is surely the same database. Each test first proves its premise: the session
/// was pooled where the kit cannot clear (a second context got the same server session back), and it was really
/// killed (the server no longer lists it). Without the kit's session generations these tests fail at the second
/// lease's SaveChanges (57P01 on PostgreSQL, a lost connection on MariaDB).
/// </summary>
public sealed class SessionsTests
{
    private static Task<DatabasePool> PoolAsync(DbEngine engine) => SessionsSetup.PoolAsync(engine);

    [Fact]
    public async Task A_session_killed_in_EFs_own_data_source_never_reaches_the_next_lease_PostgreSql()
    {
        await using var pool = await PoolAsync(DbEngine.PostgreSql);
        string name;
        await using (var db = await pool.LeaseAsync())
        {
            name = db.Name;
            var pooled = await SessionsSetup.SaveAndPoolAsync(db, () => Pets.Context(DbEngine.PostgreSql, db.ConnectionString), "Rex");
            Assert.True(await db.Faults.KillAllSessionsAsync() >= 1);
            await ServerSessions.WaitUntilGoneAsync(pool.Server, DbEngine.PostgreSql, pooled);
        }

        await using (var db = await pool.LeaseAsync())
        {
            Assert.Equal(name, db.Name);
            await using var context = Pets.Context(DbEngine.PostgreSql, db.ConnectionString);
            context.Pets.Add(new Pet { Name = "Fido", Mood = Mood.Grumpy });
            await context.SaveChangesAsync(); // 57P01 when the dead session came back from EF's data source
            Assert.Equal(Mood.Grumpy, (await context.Pets.SingleAsync(p => p.Name == "Fido")).Mood);
        }
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task A_session_killed_in_the_pool_of_a_shaped_string_that_skips_the_reset_never_reaches_the_next_lease(DbEngine engine)
    {
        // No reset on reuse (MySqlConnector's ConnectionReset=false, Npgsql's No Reset On Close): the driver hands a
        // pooled session back without a round trip, so a dead one is met by the test's first command. On MariaDB the
        // context is Pomelo's, which rewrites the string again (a pool of its own).
        await using var pool = await PoolAsync(engine);
        var shape = SessionsSetup.NoReset(engine);
        string name;
        await using (var db = await pool.LeaseAsync(shape, output: null, default))
        {
            name = db.Name;
            var pooled = await SessionsSetup.SaveAndPoolAsync(db, () => Pets.Context(engine, db.ConnectionString), "Rex");
            Assert.True(await db.Faults.KillAllSessionsAsync() >= 1);
            await ServerSessions.WaitUntilGoneAsync(pool.Server, engine, pooled);
        }

        await using (var db = await pool.LeaseAsync(shape, output: null, default))
        {
            Assert.Equal(name, db.Name);
            await using var context = Pets.Context(engine, db.ConnectionString);
            context.Pets.Add(new Pet { Name = "Fido", Mood = Mood.Grumpy });
            await context.SaveChangesAsync();
            Assert.Equal(2, await context.Pets.CountAsync());
        }
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task A_kill_the_kit_did_not_make_never_reaches_the_next_lease(DbEngine engine)
    {
        // The test kills a pooled session with its own SQL, on its own administrator's connection: the kit is not
        // told. PostgreSQL counts it (pg_stat_database.sessions_killed); on MariaDB the session was seen at the
        // previous return and is gone at this one, so the session is one an earlier lease left pooled.
        await using var pool = await PoolAsync(engine);
        var shape = SessionsSetup.NoReset(engine);
        long pooled;
        await using (var db = await pool.LeaseAsync(shape, output: null, default))
        {
            pooled = await SessionsSetup.SaveAndPoolAsync(db, () => Pets.Context(engine, db.ConnectionString), "Rex");
        }

        await using (var db = await pool.LeaseAsync(shape, output: null, default))
        {
            // The session the last lease left in the pool is still there, and still healthy.
            Assert.Equal(pooled, await SessionsSetup.SessionOfAsync(Pets.Context(engine, db.ConnectionString)));
            await SessionsSetup.KillAsync(pool, engine, pooled);
        }

        await SessionsSetup.NextLeaseSavesAsync(pool, shape, engine);
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task A_kill_the_kit_did_not_make_of_a_session_opened_in_the_same_lease_never_reaches_the_next_lease(DbEngine engine)
    {
        // As above, but the session is new to this lease: no earlier return saw it. PostgreSQL counts the kill; on
        // MariaDB the provider's pool holds more sessions of this lease's tag than the server lists for the database.
        await using var pool = await PoolAsync(engine);
        var shape = SessionsSetup.NoReset(engine);
        await using (var db = await pool.LeaseAsync(shape, output: null, default))
        {
            var pooled = await SessionsSetup.SaveAndPoolAsync(db, () => Pets.Context(engine, db.ConnectionString), "Rex");
            await SessionsSetup.KillAsync(pool, engine, pooled);
        }

        await SessionsSetup.NextLeaseSavesAsync(pool, shape, engine);
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task Under_Respawn_the_sessions_the_return_ends_never_reach_the_next_lease_through_EFs_pool(DbEngine engine)
    {
        // Respawn resets end every session left on the database when the lease comes back (the kit's own pools
        // closed first), those idle in the provider's pool too.
        await using var pool = await SessionsSetup.PoolAsync(engine, new DatabasePoolOptions { MaxDatabases = 1, UseRespawn = true });
        Assert.False(pool.IsTracking);
        var shape = SessionsSetup.NoReset(engine);
        long pooled;
        await using (var db = await pool.LeaseAsync(shape, output: null, default))
        {
            pooled = await SessionsSetup.SaveAndPoolAsync(db, () => Pets.Context(engine, db.ConnectionString), "Rex");
        }

        await ServerSessions.WaitUntilGoneAsync(pool.Server, engine, pooled); // the return ended it
        await using (var db = await pool.LeaseAsync(shape, output: null, default))
        {
            await using var context = Pets.Context(engine, db.ConnectionString);
            context.Pets.Add(new Pet { Name = "Fido", Mood = Mood.Grumpy });
            await context.SaveChangesAsync();
            Assert.Equal(1, await context.Pets.CountAsync(p => p.Name == "Fido"));
        }
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task Healthy_pooled_sessions_are_reused_by_the_next_lease_when_nothing_broke(DbEngine engine)
    {
        // The kit's hygiene must not cost a new server session per test: with nothing broken the next lease's
        // context gets the very session the last one used, from the same pool.
        await using var pool = await PoolAsync(engine);
        long first;
        await using (var db = await pool.LeaseAsync())
        {
            first = await SessionsSetup.SaveAndPoolAsync(db, () => Pets.Context(engine, db.ConnectionString), "Rex");
        }

        for (var lease = 0; lease < 3; lease++)
        {
            await using var db = await pool.LeaseAsync();
            Assert.Equal(0, pool.SessionGeneration(db.Name));
            Assert.Equal(first, await SessionsSetup.SessionOfAsync(Pets.Context(engine, db.ConnectionString)));
        }
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task A_lease_with_a_timeout_fault_leaves_no_session_with_the_timeout_behind(DbEngine engine)
    {
        // A setting fault stays with every session opened while it lasted, for the session's life, in whichever pool
        // holds it (PostgreSQL: the database's setting is the session's default, which DISCARD ALL returns to; MySQL:
        // init_connect set it at login, and a pool without ConnectionReset never resets it): the statement timeout of
        // one test must not reach the next through a pool the kit cannot clear.
        await using var pool = await PoolAsync(engine);
        var shape = SessionsSetup.NoReset(engine);
        long during;
        await using (var db = await pool.LeaseAsync(shape, output: null, default))
        {
            await using var timeout = await db.Faults.SetStatementTimeoutAsync(TimeSpan.FromMilliseconds(200));
            during = await SessionsSetup.SaveAndPoolAsync(db, () => Pets.Context(engine, db.ConnectionString), "Rex");
        }

        await using (var db = await pool.LeaseAsync(shape, output: null, default))
        {
            await using var context = Pets.Context(engine, db.ConnectionString);
            await context.Database.OpenConnectionAsync();
            await context.Database.ExecuteSqlRawAsync(engine == DbEngine.PostgreSql ? "SELECT pg_sleep(0.5)" : "SELECT SLEEP(0.5)");
            Assert.NotEqual(during, await context.Database.GetDbConnection().SessionIdAsync(engine));
        }
    }
}

/// <summary>The pools and steps the session tests share.</summary>
internal static class SessionsSetup
{
    public static Task<DatabasePool> PoolAsync(DbEngine engine) =>
        PoolAsync(engine, new DatabasePoolOptions { MaxDatabases = 1 });

    public static async Task<DatabasePool> PoolAsync(DbEngine engine, DatabasePoolOptions options) =>
        await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions
        {
            MaxDatabases = options.MaxDatabases,
            Isolation = options.Isolation,
            UseRespawn = options.UseRespawn,
            CreateSchema = c => CreateSchemaAsync(engine, c),
        });

    public static async Task CreateSchemaAsync(DbEngine engine, DbConnection connection)
    {
        await connection.ExecuteAsync(engine == DbEngine.PostgreSql
            ? "CREATE TYPE mood AS ENUM ('calm', 'playful', 'grumpy'); CREATE TABLE pets (id serial PRIMARY KEY, name varchar(100) NOT NULL UNIQUE, mood mood NOT NULL); INSERT INTO pets (id, name, mood) VALUES (1, 'Seed', 'calm'); SELECT setval('pets_id_seq', 1)"
            : "CREATE TABLE pets (id int AUTO_INCREMENT PRIMARY KEY, name varchar(100) NOT NULL UNIQUE, mood int NOT NULL); INSERT INTO pets (id, name, mood) VALUES (1, 'Seed', 0)");
    }

    /// <summary>A shape whose pools hand sessions back without resetting them (no round trip on reuse).</summary>
    public static Action<DbConnectionStringBuilder> NoReset(DbEngine engine) => engine == DbEngine.PostgreSql
        ? b => ((NpgsqlConnectionStringBuilder)b).NoResetOnClose = true
        : b => ((MySqlConnectionStringBuilder)b).ConnectionReset = false;

    /// <summary>Saves a pet through one context, then proves the session it used is pooled where the next context
    /// of <paramref name="context"/>'s kind finds it (the same server session comes back); returns its id.</summary>
    /// <summary>Ends <paramref name="session"/> from outside the kit (as a test's own SQL would) and waits until the
    /// server no longer lists it.</summary>
    public static async Task KillAsync(DatabasePool pool, DbEngine engine, long session)
    {
        await using var admin = await pool.Server.OpenAdminConnectionAsync();
        await admin.ExecuteAsync(engine == DbEngine.PostgreSql ? $"SELECT pg_terminate_backend({session}, 5000)" : $"KILL {session}");
        await ServerSessions.WaitUntilGoneAsync(pool.Server, engine, session);
    }

    /// <summary>The next lease (the same database: pools of one) saves a pet through a new context and finds the one
    /// the last lease saved gone and the seed row kept: its first command met no dead session.</summary>
    public static async Task NextLeaseSavesAsync(DatabasePool pool, Action<DbConnectionStringBuilder> shape, DbEngine engine)
    {
        await using var db = await pool.LeaseAsync(shape, output: null, default);
        await using var context = Pets.Context(engine, db.ConnectionString);
        context.Pets.Add(new Pet { Name = "Fido", Mood = Mood.Grumpy });
        await context.SaveChangesAsync();
        Assert.Equal(2, await context.Pets.CountAsync());
    }

    public static async Task<long> SaveAndPoolAsync(TestDatabase db, Func<PetContext> context, string pet)
    {
        long saved;
        await using (var first = context())
        {
            first.Pets.Add(new Pet { Name = pet, Mood = Mood.Playful });
            await first.SaveChangesAsync();
            saved = await SessionOfAsync(first, dispose: false);
        }

        Assert.Equal(saved, await SessionOfAsync(context()));
        await ServerSessions.WaitUntilIdleAsync(db.Server, db.Engine, saved);
        return saved;
    }

    /// <summary>The server session a context's connection runs on (opened and closed again, so it goes back to the
    /// context's pool).</summary>
    public static async Task<long> SessionOfAsync(PetContext context, bool dispose = true)
    {
        try
        {
            await context.Database.OpenConnectionAsync();
            try
            {
                return await context.Database.GetDbConnection().SessionIdAsync(context.Database.IsNpgsql() ? DbEngine.PostgreSql : DbEngine.MySql);
            }
            finally
            {
                await context.Database.CloseConnectionAsync();
            }
        }
        finally
        {
            if (dispose)
            {
                await context.DisposeAsync();
            }
        }
    }
}

/// <summary>A restart of a server of the test's own ends the sessions of every database of the pool, also those of
/// databases resting in the pool, whose next lease must not meet them in EF's pools.</summary>
public sealed class SessionsAfterRestartTests
{
    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task A_restart_during_one_lease_leaves_no_dead_session_for_the_databases_resting_in_the_pool(DbEngine engine)
    {
        await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions
        {
            MaxDatabases = 2,
            CreateSchema = c => SessionsSetup.CreateSchemaAsync(engine, c),
        });
        var shape = SessionsSetup.NoReset(engine);
        var resting = await pool.LeaseAsync(shape, output: null, default);
        var restarting = await pool.LeaseAsync(shape, output: null, default);
        var pooled = await SessionsSetup.SaveAndPoolAsync(resting, () => Pets.Context(engine, resting.ConnectionString), "Rex");
        await resting.DisposeAsync(); // back in the pool, its session idle in the provider's pool

        await restarting.Faults.RestartServerAsync();
        await ServerSessions.WaitUntilGoneAsync(server, engine, pooled);
        await restarting.DisposeAsync();

        // Both databases, whichever comes first: each saves through a new context on its new lease's string.
        await using var first = await pool.LeaseAsync(shape, output: null, default);
        await using var second = await pool.LeaseAsync(shape, output: null, default);
        Assert.Contains(resting.Name, new[] { first.Name, second.Name });
        foreach (var db in new[] { first, second })
        {
            await using var context = Pets.Context(engine, db.ConnectionString);
            context.Pets.Add(new Pet { Name = "Fido", Mood = Mood.Grumpy });
            await context.SaveChangesAsync();
        }
    }
}
