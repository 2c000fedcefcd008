namespace Orders;

/// <summary>An order as the application sees it.</summary>
public sealed record Order(long Id, string Customer, decimal Total);
