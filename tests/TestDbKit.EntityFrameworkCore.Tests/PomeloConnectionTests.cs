using System.Data.Common;
using System.Reflection;
using Microsoft.EntityFrameworkCore;
using MySqlConnector;
using TestDbKit.Xunit;

namespace TestDbKit.EntityFrameworkCore.Tests;

/// <summary>Issue 16's item 3: Pomelo and the kit's connections on MariaDB. Pomelo demands
/// <c>AllowUserVariables=True;UseAffectedRows=False</c> on a connection it is given and cannot change them on an
/// open one; <see cref="TestDbOptions.ConnectionString"/> puts them on every connection the kit hands out.
/// The schema is built by Pomelo itself, from <see cref="SchemaTarget.ConnectionString"/> (which it rewrites).</summary>
public abstract class PomeloSchema() : ResilientDbTestBase(DbEngine.MySql)
{
    protected override async Task CreateSchemaAsync(SchemaTarget target, CancellationToken ct)
    {
        await using var db = Pets.Context(Engine, target.ConnectionString);
        Assert.True(await db.Database.EnsureCreatedAsync(ct));
    }

    /// <summary>Reads the seed row alone, saves a pet, reads it back, through <paramref name="context"/>.</summary>
    protected static async Task WorksAsync(PetContext context)
    {
        await using var db = context;
        Assert.Equal(["Seed"], await db.Pets.Select(p => p.Name).ToListAsync());
        db.Pets.Add(new Pet { Name = "Rex", Mood = Mood.Playful });
        await db.SaveChangesAsync();
        Assert.Equal(Mood.Playful, (await db.Pets.AsNoTracking().SingleAsync(p => p.Name == "Rex")).Mood);
    }

    protected static bool HasPomelosOptions(string connectionString)
    {
        var b = new MySqlConnectionStringBuilder(connectionString);
        return b.AllowUserVariables && !b.UseAffectedRows;
    }
}

/// <summary>Without the options: the premise. Pomelo refuses the kit's connections, and rewrites the kit's string
/// (so its connections sit in a pool of their own, apart from the one the kit clears).</summary>
public sealed class PomeloWithoutOptionsTests : PomeloSchema
{
    [Fact]
    public async Task Pomelo_refuses_the_kits_Connection()
    {
        Assert.False(HasPomelosOptions(Connection.ConnectionString));
        var e = await Assert.ThrowsAnyAsync<Exception>(() => WorksAsync(Pets.Context(Engine, Connection)));
        Assert.Contains("AllowUserVariables", e.ToString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Pomelo_refuses_a_connection_from_OpenConnectionAsync()
    {
        await using var connection = await Database.OpenConnectionAsync();
        var e = await Assert.ThrowsAnyAsync<Exception>(() => WorksAsync(Pets.Context(Engine, connection)));
        Assert.Contains("AllowUserVariables", e.ToString(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Pomelo_given_the_connection_string_connects_with_another_one()
    {
        await using var db = Pets.Context(Engine, Database.ConnectionString);
        Assert.Equal(1, await db.Pets.CountAsync());
        var used = db.Database.GetDbConnection().ConnectionString;
        Assert.True(HasPomelosOptions(used));
        Assert.False(new MySqlConnectionStringBuilder(Database.ConnectionString).EquivalentTo(new MySqlConnectionStringBuilder(used)));
    }
}

/// <summary>With the options, set once in <c>Configure</c>: Pomelo uses <c>Connection</c>, connections from
/// <c>Database.OpenConnectionAsync</c> and <c>Database.ConnectionString</c> as they are, also after the kit replaced
/// the test's connection.</summary>
public sealed class PomeloWithOptionsTests : PomeloSchema
{
    protected override void Configure(TestDbOptions options) =>
        options.ConnectionString += c => { c["AllowUserVariables"] = true; c["UseAffectedRows"] = false; };

    [Fact]
    public async Task Pomelo_uses_the_kits_Connection()
    {
        Assert.True(HasPomelosOptions(Connection.ConnectionString));
        var context = Pets.Context(Engine, Connection);
        Assert.Same(Connection, context.Database.GetDbConnection());
        await WorksAsync(context);
    }

    [Fact]
    public async Task Pomelo_uses_a_connection_from_OpenConnectionAsync()
    {
        await using var connection = await Database.OpenConnectionAsync();
        await WorksAsync(Pets.Context(Engine, connection));
    }

    [Fact]
    public async Task Pomelo_uses_the_connection_string_as_it_is()
    {
        var context = Pets.Context(Engine, Database.ConnectionString);
        Assert.True(new MySqlConnectionStringBuilder(Database.ConnectionString).EquivalentTo(new MySqlConnectionStringBuilder(context.Database.GetDbConnection().ConnectionString)));
        await WorksAsync(context);
    }

    [Fact]
    public async Task Pomelo_uses_the_connection_the_kit_replaced_it_with()
    {
        // A reset before the test first touches Connection makes the kit open it anew, from the shaped string.
        var generation = TestDbKit.Sessions.ConnectionReset.Generation;
        new ResetConnectionAttribute().Before(typeof(PomeloWithOptionsTests).GetMethod(nameof(Pomelo_uses_the_connection_the_kit_replaced_it_with))!);
        Assert.True(TestDbKit.Sessions.ConnectionReset.Generation > generation); // the premise: the kit's connection predates a reset
        Assert.True(HasPomelosOptions(Connection.ConnectionString));
        await WorksAsync(Pets.Context(Engine, Connection));
    }

    [Fact]
    [ResetConnection]
    public Task Pomelo_uses_Connection_after_ResetConnection() => WorksAsync(Pets.Context(Engine, Connection));
}
