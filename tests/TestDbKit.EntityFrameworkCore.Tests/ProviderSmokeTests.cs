using Microsoft.EntityFrameworkCore;
using TestDbKit.Xunit;

namespace TestDbKit.EntityFrameworkCore.Tests;

/// <summary>The providers reach the kit's databases at all: a context from the database's connection string reads
/// the seed row the schema put there and saves a new row.</summary>
public abstract class ProviderSmokeTests(DbEngine engine) : ResilientDbTestBase(engine)
{
    protected override async Task CreateSchemaAsync(System.Data.Common.DbConnection connection)
    {
        var script = Engine == DbEngine.PostgreSql
            ? "CREATE TYPE mood AS ENUM ('calm', 'playful', 'grumpy'); CREATE TABLE pets (id serial PRIMARY KEY, name varchar(100) NOT NULL UNIQUE, mood mood NOT NULL); INSERT INTO pets (id, name, mood) VALUES (1, 'Seed', 'calm'); SELECT setval('pets_id_seq', 1)"
            : "CREATE TABLE pets (id int AUTO_INCREMENT PRIMARY KEY, name varchar(100) NOT NULL UNIQUE, mood int NOT NULL); INSERT INTO pets (id, name, mood) VALUES (1, 'Seed', 0)";
        await using var command = connection.CreateCommand();
        command.CommandText = script;
        await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task A_context_on_the_database_reads_the_seed_row_and_saves_a_new_one()
    {
        await using var context = Pets.Context(Engine, Database.ConnectionString);
        Assert.Equal(["Seed"], await context.Pets.Select(p => p.Name).ToListAsync());
        context.Pets.Add(new Pet { Name = "Rex", Mood = Mood.Playful });
        await context.SaveChangesAsync();
        Assert.Equal(Mood.Playful, (await context.Pets.SingleAsync(p => p.Name == "Rex")).Mood);
    }
}

public sealed class PostgreSqlProviderSmokeTests() : ProviderSmokeTests(DbEngine.PostgreSql);

public sealed class MySqlProviderSmokeTests() : ProviderSmokeTests(DbEngine.MySql);
