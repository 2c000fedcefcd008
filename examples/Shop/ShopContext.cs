using Microsoft.EntityFrameworkCore;

namespace Shop;

/// <summary>
/// The shop's model. Migrations are provider-specific, so each engine has a context of its own deriving from this
/// one (<see cref="PostgreSqlShopContext"/>, <see cref="MariaDbShopContext"/>), each with its own migrations
/// (Migrations/PostgreSql, Migrations/MariaDb); <see cref="ShopDb"/> builds the right one.
/// </summary>
public abstract class ShopContext(DbContextOptions options) : DbContext(options)
{
    /// <summary>The catalogue's seed rows: every new database has them (the migrations insert them).</summary>
    public static readonly IReadOnlyList<Product> SeedProducts =
    [
        new() { Id = 1, Sku = "TEA-01", Name = "Green tea", Price = 4.50m },
        new() { Id = 2, Sku = "MUG-01", Name = "Mug", Price = 9.00m },
        new() { Id = 3, Sku = "POT-01", Name = "Tea pot", Price = 24.00m },
    ];

    public DbSet<Product> Products => Set<Product>();

    public DbSet<Order> Orders => Set<Order>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        var product = modelBuilder.Entity<Product>().ToTable("products");
        product.Property(p => p.Sku).HasMaxLength(32);
        product.Property(p => p.Name).HasMaxLength(100);
        product.Property(p => p.Price).HasPrecision(10, 2);
        product.HasIndex(p => p.Sku).IsUnique();
        product.HasData(SeedProducts.Select(p => new Product { Id = p.Id, Sku = p.Sku, Name = p.Name, Price = p.Price }));

        var order = modelBuilder.Entity<Order>().ToTable("orders");
        order.Property(o => o.Reference).HasMaxLength(64);
        order.Property(o => o.Customer).HasMaxLength(100);
        order.HasIndex(o => o.Reference).IsUnique();
    }
}

/// <summary>The shop on PostgreSQL (Npgsql's provider; <see cref="OrderStatus"/> is the enum type
/// <c>order_status</c>, mapped by <c>MapEnum</c> in <see cref="ShopDb"/>).</summary>
public sealed class PostgreSqlShopContext(DbContextOptions<PostgreSqlShopContext> options) : ShopContext(options)
{
    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        base.OnModelCreating(modelBuilder);
        // The seed rows' explicit ids do not move PostgreSQL's identity sequence (MariaDB's AUTO_INCREMENT does move):
        // start it past them, or the first product added gets id 1 and a duplicate key.
        modelBuilder.Entity<Product>().Property(p => p.Id).HasIdentityOptions(startValue: 1000);
    }
}

/// <summary>The shop on MariaDB (Pomelo's provider).</summary>
public sealed class MariaDbShopContext(DbContextOptions<MariaDbShopContext> options) : ShopContext(options);
