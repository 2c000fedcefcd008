using System.Data.Common;
using TestDbKit;

namespace Orders.Tests.Xunit;

/// <summary>Ordinary tests: each class runs in parallel with the others (xunit's default), each test on
/// a database of its own.</summary>
public abstract class OrderRepositoryTests(DbEngine engine) : OrderDatabase(engine)
{
    [Fact]
    public async Task Stores_and_finds_an_order()
    {
        await Orders.AddAsync(new Order(1, "ada", 12.50m));
        Assert.Equal(new Order(1, "ada", 12.50m), await Orders.FindAsync(1));
    }

    [Fact]
    public async Task A_duplicate_customer_is_refused_and_the_next_call_works()
    {
        await Orders.AddAsync(new Order(1, "grace", 1m));
        var refused = await Assert.ThrowsAnyAsync<DbException>(() => Orders.AddAsync(new Order(2, "grace", 2m)));
        Assert.True(DbErrors.IsIntegrityViolation(refused));
        await Orders.AddAsync(new Order(3, "linus", 3m));
        Assert.Equal(2, await Orders.CountAsync());
    }

    [Fact]
    public async Task Storing_the_same_order_twice_stores_it_once()
    {
        await Orders.AddAsync(new Order(7, "barbara", 7m));
        await Orders.AddAsync(new Order(7, "barbara", 7m)); // what a retry after a lost reply does
        Assert.Equal(1, await Orders.CountAsync());
    }

    [Fact]
    public async Task Parallel_writers_each_keep_their_rows()
    {
        await Task.WhenAll(Enumerable.Range(1, 20).Select(i => Orders.AddAsync(new Order(i, $"c{i}", i))));
        Assert.Equal(20, await Orders.CountAsync());
    }
}

public sealed class PostgreSqlOrderRepositoryTests() : OrderRepositoryTests(DbEngine.PostgreSql);

public sealed class MySqlOrderRepositoryTests() : OrderRepositoryTests(DbEngine.MySql);
