using System.Data.Common;
using TestDbKit;

namespace Orders.Tests.MSTest;

/// <summary>Ordinary tests, all of them at once (method-level parallelism): each on a database of its own.
/// MSTest has no parameterised classes: the tests are written once and run by one class per engine.</summary>
public abstract class OrderRepositoryTests(DbEngine engine) : OrderDatabase(engine)
{
    [TestMethod]
    public async Task Stores_and_finds_an_order()
    {
        await Orders.AddAsync(new Order(1, "ada", 12.50m));
        Assert.AreEqual(new Order(1, "ada", 12.50m), await Orders.FindAsync(1));
    }

    [TestMethod]
    public async Task A_duplicate_customer_is_refused_and_the_next_call_works()
    {
        await Orders.AddAsync(new Order(1, "grace", 1m));
        var refused = await Assert.ThrowsAsync<DbException>(() => Orders.AddAsync(new Order(2, "grace", 2m)));
        Assert.IsTrue(DbErrors.IsIntegrityViolation(refused));
        await Orders.AddAsync(new Order(3, "linus", 3m));
        Assert.AreEqual(2L, await Orders.CountAsync());
    }

    [TestMethod]
    public async Task Storing_the_same_order_twice_stores_it_once()
    {
        await Orders.AddAsync(new Order(7, "barbara", 7m));
        await Orders.AddAsync(new Order(7, "barbara", 7m)); // what a retry after a lost reply does
        Assert.AreEqual(1L, await Orders.CountAsync());
    }

    [TestMethod]
    public async Task Parallel_writers_each_keep_their_rows()
    {
        await Task.WhenAll(Enumerable.Range(1, 20).Select(i => Orders.AddAsync(new Order(i, $"c{i}", i))));
        Assert.AreEqual(20L, await Orders.CountAsync());
    }
}

[TestClass]
public sealed class PostgreSqlOrderRepositoryTests() : OrderRepositoryTests(DbEngine.PostgreSql);

[TestClass]
public sealed class MySqlOrderRepositoryTests() : OrderRepositoryTests(DbEngine.MySql);
