using Microsoft.EntityFrameworkCore;

namespace Shop;

/// <summary>
/// The shop's operations, each one unit of work run by the context's execution strategy (so a transient error,
/// a killed session say, is retried from the start on a new context state). Placing an order is idempotent by its
/// reference: a retry after a lost reply finds the order instead of storing it twice.
/// </summary>
/// <param name="contexts">Makes a context (one per operation).</param>
public sealed class ShopService(Func<ShopContext> contexts)
{
    /// <summary>Places an order for <paramref name="quantity"/> of the product <paramref name="sku"/>, pending
    /// payment; returns the stored order (the earlier one when the reference was placed before).</summary>
    public async Task<Order> PlaceOrderAsync(string reference, string customer, string sku, int quantity, CancellationToken ct = default)
    {
        await using var db = contexts();
        return await db.Database.CreateExecutionStrategy().ExecuteAsync(async token =>
        {
            db.ChangeTracker.Clear(); // a retry starts from the database, not from what the failed attempt tracked
            if (await db.Orders.AsNoTracking().SingleOrDefaultAsync(o => o.Reference == reference, token) is { } placed)
            {
                return placed;
            }

            var product = await db.Products.SingleAsync(p => p.Sku == sku, token);
            var order = new Order { Reference = reference, Customer = customer, ProductId = product.Id, Quantity = quantity, Status = OrderStatus.Pending };
            db.Orders.Add(order);
            await db.SaveChangesAsync(token);
            return order;
        }, ct);
    }

    /// <summary>Moves the order to <paramref name="status"/>; false when there is no such order.</summary>
    public async Task<bool> SetStatusAsync(string reference, OrderStatus status, CancellationToken ct = default)
    {
        await using var db = contexts();
        return await db.Database.CreateExecutionStrategy().ExecuteAsync(async token =>
            await db.Orders.Where(o => o.Reference == reference).ExecuteUpdateAsync(s => s.SetProperty(o => o.Status, status), token) == 1, ct);
    }

    /// <summary>Adds a product to the catalogue. Throws EF's <see cref="DbUpdateException"/> when its SKU is taken
    /// (<c>DbErrors.IsIntegrityViolation</c> tells; the strategy does not retry it).</summary>
    public async Task<Product> AddProductAsync(string sku, string name, decimal price, CancellationToken ct = default)
    {
        await using var db = contexts();
        return await db.Database.CreateExecutionStrategy().ExecuteAsync(async token =>
        {
            db.ChangeTracker.Clear();
            var product = new Product { Sku = sku, Name = name, Price = price };
            db.Products.Add(product);
            await db.SaveChangesAsync(token);
            return product;
        }, ct);
    }

    /// <summary>The orders in <paramref name="status"/>, by reference.</summary>
    public async Task<IReadOnlyList<Order>> OrdersAsync(OrderStatus status, CancellationToken ct = default)
    {
        await using var db = contexts();
        return await db.Database.CreateExecutionStrategy().ExecuteAsync(token =>
            db.Orders.AsNoTracking().Where(o => o.Status == status).OrderBy(o => o.Reference).ToListAsync(token), ct);
    }

    /// <summary>Every order's reference.</summary>
    public async Task<IReadOnlyList<string>> ReferencesAsync(CancellationToken ct = default)
    {
        await using var db = contexts();
        return await db.Database.CreateExecutionStrategy().ExecuteAsync(token =>
            db.Orders.Select(o => o.Reference).ToListAsync(token), ct);
    }
}
