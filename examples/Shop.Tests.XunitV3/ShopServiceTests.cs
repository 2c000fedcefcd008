using Microsoft.EntityFrameworkCore;
using Orders.Tests;
using TestDbKit;

namespace Shop.Tests;

/// <summary>Ordinary tests: the migrated schema with its seed rows, the enum, idempotent orders, a unique
/// violation told apart by <see cref="DbErrors"/>, and a context on the test's own <c>Connection</c>.</summary>
public abstract class ShopServiceTests(DbEngine engine) : ShopDatabase(engine)
{
    private static readonly string[] SeedSkus = [.. ShopContext.SeedProducts.Select(p => p.Sku)];

    [Fact]
    public async Task The_database_is_migrated_and_has_the_seed_rows()
    {
        await using var db = Context();
        Assert.Empty(await db.Database.GetPendingMigrationsAsync());
        Assert.Single(await db.Database.GetAppliedMigrationsAsync());
        Assert.Equal(SeedSkus, await db.Products.OrderBy(p => p.Id).Select(p => p.Sku).ToListAsync());
    }

    [Fact]
    public async Task Seed_rows_are_kept_by_a_reset_and_what_the_test_wrote_is_gone()
    {
        await using (var db = Context())
        {
            Assert.Equal(3, await db.Products.ExecuteDeleteAsync()); // the seed rows, gone for now
            db.Products.Add(new Product { Sku = "CUP-01", Name = "Cup", Price = 3m });
            await db.SaveChangesAsync();
        }

        await Database.ResetAsync(); // what the kit does between tests

        await using var after = Context();
        Assert.Equal(SeedSkus, await after.Products.OrderBy(p => p.Id).Select(p => p.Sku).ToListAsync());
    }

    [Fact]
    public async Task An_order_is_placed_pending_and_moves_through_its_statuses()
    {
        var order = await Shop.PlaceOrderAsync("r-1", "ada", "TEA-01", 2);
        Assert.Equal(OrderStatus.Pending, order.Status);
        Assert.True(await Shop.SetStatusAsync("r-1", OrderStatus.Paid));
        Assert.Equal(["r-1"], (await Shop.OrdersAsync(OrderStatus.Paid)).Select(o => o.Reference));
        Assert.Empty(await Shop.OrdersAsync(OrderStatus.Pending));

        // Stored as the provider maps the enum: PostgreSQL's enum type (MapEnum), MariaDB's int.
        var stored = Engine == DbEngine.PostgreSql
            ? await Connection.ScalarAsync("SELECT \"Status\"::text FROM orders")
            : await Connection.ScalarAsync("SELECT Status FROM orders");
        Assert.Equal(Engine == DbEngine.PostgreSql ? "paid" : (object)1, stored);
    }

    [Fact]
    public async Task Placing_the_same_order_twice_stores_it_once()
    {
        var first = await Shop.PlaceOrderAsync("r-7", "grace", "MUG-01", 1);
        var again = await Shop.PlaceOrderAsync("r-7", "grace", "MUG-01", 1); // what a retry after a lost reply does
        Assert.Equal(first.Id, again.Id);
        Assert.Equal(["r-7"], await Shop.ReferencesAsync());
    }

    [Fact]
    public async Task A_taken_sku_is_an_integrity_violation_not_retried_and_the_next_call_works()
    {
        var refused = await Assert.ThrowsAsync<DbUpdateException>(() => Shop.AddProductAsync("TEA-01", "Tea again", 1m));
        Assert.True(DbErrors.IsIntegrityViolation(refused));
        Assert.False(DbErrors.IsTransient(refused)); // so the execution strategy gave it straight back
        await Shop.AddProductAsync("CUP-01", "Cup", 3m);
        await using var db = Context();
        Assert.Equal(4, await db.Products.CountAsync());
    }

    [Fact]
    public async Task A_context_on_the_tests_Connection_works_on_both_providers()
    {
        // Pomelo takes the kit's Connection because ShopDatabase.Configure adds its two options to the connection string.
        await using (var db = ShopDb.Create(Engine, Connection))
        {
            db.Products.Add(new Product { Sku = "CUP-01", Name = "Cup", Price = 3m });
            await db.SaveChangesAsync();
        }

        Assert.Equal(4L, Convert.ToInt64(await Connection.ScalarAsync("SELECT COUNT(*) FROM products"), System.Globalization.CultureInfo.InvariantCulture));
    }
}

public sealed class PostgreSqlShopServiceTests() : ShopServiceTests(DbEngine.PostgreSql);

public sealed class MySqlShopServiceTests() : ShopServiceTests(DbEngine.MySql);
