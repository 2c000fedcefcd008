using System.Collections.Concurrent;
using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using TestDbKit.Xunit;

namespace TestDbKit.EntityFrameworkCore.Tests;

/// <summary>The premise of issue 16's item 4: with <c>MapEnum</c>, Npgsql's <c>EnsureCreated</c> on the open
/// connection the old hook gives fails, so a model with enums could not be built in <c>CreateSchemaAsync(DbConnection)</c>.</summary>
public sealed class SchemaHookPremiseTests
{
    [Fact]
    public async Task EnsureCreated_with_MapEnum_on_the_open_connection_of_CreateSchema_fails()
    {
        var server = await DbServer.SharedAsync(DbEngine.PostgreSql);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => DatabasePool.CreateAsync(server, new DatabasePoolOptions
        {
            MaxDatabases = 1,
            CreateSchema = async connection =>
            {
                await using var db = Pets.Context(DbEngine.PostgreSql, connection);
                await db.Database.EnsureCreatedAsync();
            },
        }));
        Assert.StartsWith("CreateSchema failed on database tdk_", e.Message, StringComparison.Ordinal);
        Assert.Contains("Connection already open", e.Message, StringComparison.Ordinal);
    }
}

/// <summary>The schema hook on a <see cref="SchemaTarget"/> builds the model with <c>EnsureCreated</c> on a context
/// made from the target's connection string: Npgsql with <c>MapEnum</c>, and Pomelo (which rewrites the strings it is
/// given) on MariaDB.</summary>
public abstract class SchemaHookEnsureCreatedTests(DbEngine engine) : ResilientDbTestBase(engine)
{
    protected override async Task CreateSchemaAsync(SchemaTarget target, CancellationToken ct)
    {
        await using var db = Pets.Context(Engine, target.ConnectionString);
        Assert.True(await db.Database.EnsureCreatedAsync(ct)); // it created the model: the database was empty
    }

    [Fact]
    public Task The_model_its_enum_and_its_seed_row_are_there() => SchemaHookChecks.SeedRowAndEnumAsync(Pets.Context(Engine, Database.ConnectionString));

    [Fact]
    public Task Each_test_starts_with_the_seed_row_only() => SchemaHookChecks.SeedRowAndEnumAsync(Pets.Context(Engine, Database.ConnectionString));
}

public sealed class PostgreSqlSchemaHookEnsureCreatedTests() : SchemaHookEnsureCreatedTests(DbEngine.PostgreSql);

public sealed class MySqlSchemaHookEnsureCreatedTests() : SchemaHookEnsureCreatedTests(DbEngine.MySql);

/// <summary>A hook whose context keeps its sessions: Npgsql's EF provider with <c>MapEnum</c> builds a data source with a
/// pool of its own, here pooled on purpose, so its idle session stays on the template after the context is disposed.
/// The kit ends it when the hook returns, so PostgreSQL can copy the template.</summary>
public sealed class SchemaHookPooledContextTests() : ResilientDbTestBase(DbEngine.PostgreSql)
{
    protected override async Task CreateSchemaAsync(SchemaTarget target, CancellationToken ct)
    {
        var pooled = new Npgsql.NpgsqlConnectionStringBuilder(target.ConnectionString) { Pooling = true }.ConnectionString;
        await using (var db = Pets.Context(Engine, pooled))
        {
            Assert.True(await db.Database.EnsureCreatedAsync(ct));
        }

        // The premise: EF's pool still holds a session on the template now that the hook is about to return.
        await using var probe = await target.OpenConnectionAsync(ct);
        await using var command = probe.CreateCommand();
        command.CommandText = $"SELECT count(*) FROM pg_stat_activity WHERE datname = '{target.Name}' AND pid <> pg_backend_pid()";
        Assert.True(Convert.ToInt64(await command.ExecuteScalarAsync(ct)) >= 1);
    }

    [Fact]
    public Task The_template_was_copied_all_the_same() => SchemaHookChecks.SeedRowAndEnumAsync(Pets.Context(Engine, Database.ConnectionString));
}

/// <summary>The schema hook runs EF Core's migrations (<c>MigrateAsync</c>) on a context made from the target's
/// connection string.</summary>
public abstract class SchemaHookMigrateTests(DbEngine engine) : ResilientDbTestBase(engine)
{
    protected override async Task CreateSchemaAsync(SchemaTarget target, CancellationToken ct)
    {
        await using var db = MigratedPetContext.Create(Engine, target.ConnectionString);
        await db.Database.MigrateAsync(ct);
        Assert.Equal(["20261202000000_Pets"], await db.Database.GetAppliedMigrationsAsync(ct));
    }

    [Fact]
    public async Task The_migrated_model_and_its_seed_row_are_there()
    {
        await using var db = MigratedPetContext.Create(Engine, Database.ConnectionString);
        Assert.Empty(await db.Database.GetPendingMigrationsAsync());
        Assert.Equal(["Seed"], await db.Pets.Select(p => p.Name).ToListAsync());
        db.Pets.Add(new Pet { Name = "Rex", Mood = Mood.Grumpy });
        await db.SaveChangesAsync();
        Assert.Equal(Mood.Grumpy, (await db.Pets.AsNoTracking().SingleAsync(p => p.Name == "Rex")).Mood);
    }

    [Fact]
    public async Task Each_test_starts_with_the_seed_row_only()
    {
        await using var db = MigratedPetContext.Create(Engine, Database.ConnectionString);
        Assert.Equal(["Seed"], await db.Pets.Select(p => p.Name).ToListAsync());
        db.Pets.Add(new Pet { Name = "Rex", Mood = Mood.Playful });
        await db.SaveChangesAsync();
    }
}

public sealed class PostgreSqlSchemaHookMigrateTests() : SchemaHookMigrateTests(DbEngine.PostgreSql);

public sealed class MySqlSchemaHookMigrateTests() : SchemaHookMigrateTests(DbEngine.MySql);

/// <summary>The schema's identity: test classes that share the declaring class of the overridden
/// <c>CreateSchemaAsync(SchemaTarget, CancellationToken)</c> share one schema, built once (one template on
/// PostgreSQL).</summary>
public abstract class SchemaHookSharedSchema : ResilientDbTestBase
{
    /// <summary>The databases the hook built, for the whole run.</summary>
    internal static readonly ConcurrentQueue<string> Built = new();

    protected SchemaHookSharedSchema()
        : base(DbEngine.PostgreSql)
    {
    }

    protected override async Task CreateSchemaAsync(SchemaTarget target, CancellationToken ct)
    {
        Built.Enqueue(target.Name);
        await using var connection = await target.OpenConnectionAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = "CREATE TABLE shared_marker (id int PRIMARY KEY)";
        await command.ExecuteNonQueryAsync(ct);
    }

    protected async Task AssertOneSchemaAsync()
    {
        Assert.Single(Built); // a second class with a schema of its own would have built a second template
        await using var command = Connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM shared_marker";
        Assert.Equal(0L, Convert.ToInt64(await command.ExecuteScalarAsync()));
    }
}

public sealed class SchemaHookSharedSchemaA : SchemaHookSharedSchema
{
    [Fact]
    public Task Uses_the_shared_template() => AssertOneSchemaAsync();
}

public sealed class SchemaHookSharedSchemaB : SchemaHookSharedSchema
{
    [Fact]
    public Task Uses_the_shared_template() => AssertOneSchemaAsync();
}

internal static class SchemaHookChecks
{
    /// <summary>Reads the seed row alone, then saves and reads back a pet with an enum value.</summary>
    public static async Task SeedRowAndEnumAsync(PetContext context)
    {
        await using var db = context;
        Assert.Equal(["Seed"], await db.Pets.Select(p => p.Name).ToListAsync());
        db.Pets.Add(new Pet { Name = "Rex", Mood = Mood.Grumpy });
        await db.SaveChangesAsync();
        Assert.Equal(Mood.Grumpy, (await db.Pets.AsNoTracking().SingleAsync(p => p.Name == "Rex")).Mood);
    }
}
