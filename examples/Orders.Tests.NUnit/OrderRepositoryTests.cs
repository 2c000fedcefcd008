using System.Data.Common;
using TestDbKit;

namespace Orders.Tests.NUnit;

/// <summary>Ordinary tests, all of them at once (<c>ParallelScope.All</c>): each on a database of its own.</summary>
[TestFixture(DbEngine.PostgreSql)]
[TestFixture(DbEngine.MySql)]
[Parallelizable(ParallelScope.All)]
public sealed class OrderRepositoryTests(DbEngine engine) : OrderDatabase(engine)
{
    [Test]
    public async Task Stores_and_finds_an_order()
    {
        await Orders.AddAsync(new Order(1, "ada", 12.50m));
        Assert.That(await Orders.FindAsync(1), Is.EqualTo(new Order(1, "ada", 12.50m)));
    }

    [Test]
    public async Task A_duplicate_customer_is_refused_and_the_next_call_works()
    {
        await Orders.AddAsync(new Order(1, "grace", 1m));
        var refused = Assert.CatchAsync<DbException>(() => Orders.AddAsync(new Order(2, "grace", 2m)));
        Assert.That(DbErrors.IsIntegrityViolation(refused!), Is.True);
        await Orders.AddAsync(new Order(3, "linus", 3m));
        Assert.That(await Orders.CountAsync(), Is.EqualTo(2));
    }

    [Test]
    public async Task Storing_the_same_order_twice_stores_it_once()
    {
        await Orders.AddAsync(new Order(7, "barbara", 7m));
        await Orders.AddAsync(new Order(7, "barbara", 7m)); // what a retry after a lost reply does
        Assert.That(await Orders.CountAsync(), Is.EqualTo(1));
    }

    [Test]
    public async Task Parallel_writers_each_keep_their_rows()
    {
        await Task.WhenAll(Enumerable.Range(1, 20).Select(i => Orders.AddAsync(new Order(i, $"c{i}", i))));
        Assert.That(await Orders.CountAsync(), Is.EqualTo(20));
    }
}
