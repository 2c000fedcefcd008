using Microsoft.EntityFrameworkCore;
using TestDbKit.Tests.Common;
using TestDbKit.Xunit;
using static TestDbKit.EntityFrameworkCore.Tests.EnsureSupport;

namespace TestDbKit.EntityFrameworkCore.Tests;

/// <summary>EF's <c>EnsureCreated</c> and <c>EnsureDeleted</c> the ways users call them, through the real providers:
/// per test on a database whose schema the kit left empty, and after a schema hook that built the model. A pool of
/// one database, so every lease after the first is the database the test before used (or what the kit made of it).</summary>
public abstract class EnsureTests(DbEngine engine)
{
    /// <summary>With no schema the kit leaves the database without a table of its own, so EF's HasTables sees an
    /// empty database and EnsureCreated builds the model, in every test: the model the test before built is gone.</summary>
    [Fact]
    public async Task EnsureCreated_in_each_test_builds_the_model_on_an_empty_database()
    {
        var log = new RecordingLogs();
        await using var pool = await PoolAsync(engine, log);
        for (var test = 0; test < 3; test++)
        {
            await using var db = await pool.LeaseAsync();
            await using (var connection = await db.OpenConnectionAsync())
            {
                Assert.Equal(0, await AllTablesAsync(connection, engine));
            }

            await using var context = Pets.Context(engine, db.ConnectionString);
            Assert.True(await context.Database.EnsureCreatedAsync(), $"test {test}: EF found tables in {db.Name}, whose schema is empty");
            context.Pets.Add(new Pet { Name = "Rex", Mood = Mood.Grumpy });
            await context.SaveChangesAsync();
            Assert.Equal(["Rex", "Seed"], await NamesAsync(context));
        }

        Assert.Empty(log.Warnings);
    }

    /// <summary>EnsureDeleted drops the kit's database under the kit (its own sessions on it included) and
    /// EnsureCreated makes it again; the kit notices at the lease's return and gives the next test a clean one,
    /// quietly.</summary>
    [Fact]
    public async Task EnsureDeleted_then_EnsureCreated_in_each_test()
    {
        var log = new RecordingLogs();
        await using var pool = await PoolAsync(engine, log);
        for (var test = 0; test < 3; test++)
        {
            await using var db = await pool.LeaseAsync();
            await using var context = Pets.Context(engine, db.ConnectionString);
            Assert.True(await context.Database.EnsureDeletedAsync(), $"test {test}: {db.Name} was not there to delete");
            Assert.True(await context.Database.EnsureCreatedAsync(), $"test {test}: {db.Name} was not created");
            context.Pets.Add(new Pet { Name = "Rex", Mood = Mood.Playful });
            await context.SaveChangesAsync();
            Assert.Equal(["Rex", "Seed"], await NamesAsync(context));
        }

        Assert.Empty(log.Warnings);
    }

    /// <summary>A test that only drops the database: the next test gets a database, with the schema.</summary>
    [Fact]
    public async Task A_database_a_test_dropped_is_replaced_for_the_next_test()
    {
        var log = new RecordingLogs();
        await using var pool = await PoolAsync(engine, log, c => EnsureCreatedInHookAsync(engine, c));
        string dropped;
        await using (var db = await pool.LeaseAsync())
        {
            await using var context = IntMoodContext(engine, db.ConnectionString);
            Assert.True(await context.Database.EnsureDeletedAsync());
            Assert.False(await context.Database.CanConnectAsync());
            dropped = db.Name;
        }

        await using (var db = await pool.LeaseAsync())
        {
            await using var context = IntMoodContext(engine, db.ConnectionString);
            Assert.Equal(["Seed"], await NamesAsync(context));
            Assert.NotEqual(dropped, db.Name);
        }

        Assert.Empty(log.Warnings);
    }

    /// <summary>The schema hook builds the model with EnsureCreated; in the tests EnsureCreated is then a no-op that
    /// answers false, the seed row is there, and what a test added is gone for the next.</summary>
    [Fact]
    public async Task EnsureCreated_in_the_schema_hook_leaves_EnsureCreated_in_the_test_a_no_op()
    {
        var log = new RecordingLogs();
        await using var pool = await PoolAsync(engine, log, c => EnsureCreatedInHookAsync(engine, c));
        for (var test = 0; test < 3; test++)
        {
            await using var db = await pool.LeaseAsync();
            await using var context = IntMoodContext(engine, db.ConnectionString);
            Assert.False(await context.Database.EnsureCreatedAsync(), $"test {test}: EF saw no tables in {db.Name}");
            Assert.Equal(["Seed"], await NamesAsync(context));
            context.Pets.Add(new Pet { Name = "Rex", Mood = Mood.Calm });
            await context.SaveChangesAsync();
            Assert.Equal(["Rex", "Seed"], await NamesAsync(context));
        }

        Assert.Empty(log.Warnings);
    }
}

public sealed class PostgreSqlEnsureTests() : EnsureTests(DbEngine.PostgreSql);

public sealed class MySqlEnsureTests() : EnsureTests(DbEngine.MySql);

/// <summary>The natural way, through the base class: no schema hook, EnsureCreated in every test. Two tests that
/// each need an empty database; a pool of one, so whichever runs second gets the database the first filled.</summary>
public abstract class EnsureCreatedPerTestBase(DbEngine engine) : ResilientDbTestBase(engine)
{
    protected override void Configure(TestDbOptions options) => options.MaxDatabases = 1;

    [Fact]
    public Task First_test_creates_the_model_and_saves() => CreateAndSaveAsync("Rex");

    [Fact]
    public Task Second_test_creates_the_model_and_saves() => CreateAndSaveAsync("Fido");

    private async Task CreateAndSaveAsync(string name)
    {
        await using var context = Pets.Context(Engine, Database.ConnectionString);
        Assert.True(await context.Database.EnsureCreatedAsync(), $"EF found tables in {Database.Name}");
        context.Pets.Add(new Pet { Name = name, Mood = Mood.Calm });
        await context.SaveChangesAsync();
        Assert.Equal(2, await context.Pets.CountAsync());
    }
}

public sealed class PostgreSqlEnsureCreatedPerTest() : EnsureCreatedPerTestBase(DbEngine.PostgreSql);

public sealed class MySqlEnsureCreatedPerTest() : EnsureCreatedPerTestBase(DbEngine.MySql);

/// <summary>EnsureDeleted and EnsureCreated in every test through the base class: on PostgreSQL the provider's
/// <c>DROP DATABASE .. WITH (FORCE)</c> also ends the session behind the test's <c>Connection</c>; the kit's teardown
/// copes, and the next test (the same pool of one) gets a database to delete again.</summary>
public abstract class EnsureDeletedPerTestBase(DbEngine engine) : ResilientDbTestBase(engine)
{
    protected override void Configure(TestDbOptions options) => options.MaxDatabases = 1;

    [Fact]
    public Task First_test_deletes_creates_and_saves() => DeleteCreateAndSaveAsync("Rex");

    [Fact]
    public Task Second_test_deletes_creates_and_saves() => DeleteCreateAndSaveAsync("Fido");

    private async Task DeleteCreateAndSaveAsync(string name)
    {
        await using var context = Pets.Context(Engine, Database.ConnectionString);
        Assert.True(await context.Database.EnsureDeletedAsync(), $"{Database.Name} was not there to delete");
        Assert.True(await context.Database.EnsureCreatedAsync());
        context.Pets.Add(new Pet { Name = name, Mood = Mood.Calm });
        await context.SaveChangesAsync();
        Assert.Equal(2, await context.Pets.CountAsync());
    }
}

public sealed class PostgreSqlEnsureDeletedPerTest() : EnsureDeletedPerTestBase(DbEngine.PostgreSql);

public sealed class MySqlEnsureDeletedPerTest() : EnsureDeletedPerTestBase(DbEngine.MySql);
