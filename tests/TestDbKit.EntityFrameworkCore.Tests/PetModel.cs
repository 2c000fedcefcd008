using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using MySqlConnector;

namespace TestDbKit.EntityFrameworkCore.Tests;

/// <summary>How a pet feels: mapped to a PostgreSQL enum type with <c>MapEnum</c> (Npgsql's recommended set-up,
/// which makes the EF provider build a data source, and a pool, of its own); an int on MariaDB.</summary>
public enum Mood
{
    Calm,
    Playful,
    Grumpy,
}

/// <summary>One row of the tests' model.</summary>
public sealed class Pet
{
    public int Id { get; set; }

    public string Name { get; set; } = "";

    public Mood Mood { get; set; }
}

/// <summary>The tests' model: pets with a unique name, and one seed row from <c>HasData</c>.</summary>
public sealed class PetContext(DbContextOptions<PetContext> options) : DbContext(options)
{
    public DbSet<Pet> Pets => Set<Pet>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        var pet = modelBuilder.Entity<Pet>().ToTable("pets");
        pet.Property(p => p.Id).HasColumnName("id");
        pet.Property(p => p.Name).HasColumnName("name").HasMaxLength(100);
        pet.Property(p => p.Mood).HasColumnName("mood");
        pet.HasIndex(p => p.Name).IsUnique();
        pet.HasData(new Pet { Id = 1, Name = "Seed", Mood = Mood.Calm });
    }
}

/// <summary>Builds <see cref="PetContext"/> the ways users do: from a connection string (the provider opens its own
/// connections) or on a connection the test already has.</summary>
public static class Pets
{
    /// <summary>The MariaDB server version Pomelo is told (its detection would cost a round trip per context).</summary>
    public static readonly ServerVersion MariaDb = new MariaDbServerVersion(new Version(10, 11));

    /// <summary>A context on <paramref name="connectionString"/>, with Npgsql's <c>MapEnum</c> on PostgreSQL.</summary>
    public static PetContext Context(DbEngine engine, string connectionString, Action<DbContextOptionsBuilder>? more = null)
    {
        var builder = new DbContextOptionsBuilder<PetContext>();
        if (engine == DbEngine.PostgreSql)
        {
            builder.UseNpgsql(connectionString, o => o.MapEnum<Mood>("mood"));
        }
        else
        {
            builder.UseMySql(connectionString, MariaDb);
        }

        more?.Invoke(builder);
        return new PetContext(builder.Options);
    }

    /// <summary>A context on an open <paramref name="connection"/> the test owns.</summary>
    public static PetContext Context(DbEngine engine, DbConnection connection, Action<DbContextOptionsBuilder>? more = null)
    {
        var builder = new DbContextOptionsBuilder<PetContext>();
        if (engine == DbEngine.PostgreSql)
        {
            builder.UseNpgsql(connection, o => o.MapEnum<Mood>("mood"));
        }
        else
        {
            builder.UseMySql((MySqlConnection)connection, MariaDb);
        }

        more?.Invoke(builder);
        return new PetContext(builder.Options);
    }
}
