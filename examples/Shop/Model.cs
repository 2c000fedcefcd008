namespace Shop;

/// <summary>Where an order is: a PostgreSQL enum type (<c>order_status</c>, mapped with Npgsql's <c>MapEnum</c>);
/// an int column on MariaDB (Pomelo's default for an enum).</summary>
public enum OrderStatus
{
    Pending,
    Paid,
    Shipped,
}

/// <summary>Something the shop sells; the catalogue's first rows are seed data (<c>HasData</c>).</summary>
public sealed class Product
{
    public int Id { get; set; }

    /// <summary>The stock-keeping unit: unique.</summary>
    public string Sku { get; set; } = "";

    public string Name { get; set; } = "";

    public decimal Price { get; set; }
}

/// <summary>One order of one product.</summary>
public sealed class Order
{
    public int Id { get; set; }

    /// <summary>The caller's own key for the order (unique): placing the same order again, as a retry after a lost
    /// reply does, finds it instead of storing it twice.</summary>
    public string Reference { get; set; } = "";

    public string Customer { get; set; } = "";

    public int ProductId { get; set; }

    public Product? Product { get; set; }

    public int Quantity { get; set; }

    public OrderStatus Status { get; set; }
}
