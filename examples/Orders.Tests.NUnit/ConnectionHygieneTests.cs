using System.Data.Common;
using Orders.Tests;
using TestDbKit;
using TestDbKit.NUnit;

namespace Orders.Tests.NUnit;

/// <summary>
/// What one test does to the base class's <c>Connection</c> never reaches the next, in whatever order they run:
/// a test that ends inside a transaction broken by a unique violation leaves nothing behind, and every test
/// starts on a healthy connection and an empty table. The fixture runs beside the others.
/// </summary>
[TestFixture(DbEngine.PostgreSql)]
[TestFixture(DbEngine.MySql)]
[Parallelizable(ParallelScope.Self)]
public sealed class ConnectionHygieneTests(DbEngine engine) : OrderDatabase(engine)
{
    [Test]
    public async Task A_unique_violation_leaves_the_transaction_broken()
    {
        var transaction = await Connection.BeginTransactionAsync();
        await Connection.ExecuteAsync("INSERT INTO orders (id, customer, total) VALUES (1, 'ada', 1)", transaction);
        var refused = Assert.CatchAsync<DbException>(() => Connection.ExecuteAsync("INSERT INTO orders (id, customer, total) VALUES (2, 'ada', 2)", transaction));
        Assert.That(DbErrors.IsIntegrityViolation(refused!), Is.True);
        // Left as it is, uncommitted (PostgreSQL: aborted, every further statement fails with 25P02).
    }

    [Test]
    public async Task Every_test_starts_healthy_on_an_empty_table()
    {
        // Whatever a test before left (the one above: a row in a broken transaction), this one starts clean.
        Assert.That(Convert.ToInt64(await Connection.ScalarAsync("SELECT COUNT(*) FROM orders")), Is.Zero);
        await Connection.ExecuteAsync("INSERT INTO orders (id, customer, total) VALUES (1, 'ada', 1)");
    }
}

/// <summary>
/// [ResetConnection] closes every pooled connection of the process before the test, the application's own
/// too, so the test starts on brand-new server sessions. It also works on tests that do not inherit the base
/// class, like these: each leases a database itself and lets the application leave an idle session in its
/// pool. A reset reaches every pool of the process, and these tests compare what a pool hands back, so they
/// run alone.
/// </summary>
[TestFixture(DbEngine.PostgreSql)]
[TestFixture(DbEngine.MySql)]
[NonParallelizable]
public sealed class ResetConnectionTests(DbEngine engine)
{
    private DatabasePool? _pool;
    private TestDatabase? _database;
    private OrderWorkload? _application;
    private long _pooled;

    private OrderWorkload Application => _application ?? throw new InvalidOperationException("SetUp has not run");

    [OneTimeSetUp]
    public async Task CreateThePool() =>
        _pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions { CreateSchema = OrderWorkload.CreateSchemaAsync });

    [OneTimeTearDown]
    public async Task DisposeThePool()
    {
        if (_pool is not null)
        {
            await _pool.DisposeAsync();
        }
    }

    /// <summary>Runs before [ResetConnection] does: the application writes, and its pool keeps the session idle.</summary>
    [SetUp]
    public async Task TheApplicationLeavesAnIdleSessionInItsPool()
    {
        _database = await _pool!.LeaseAsync();
        _application = new OrderWorkload(OrderWorkload.Settings(_database));
        await _application.WriteAsync(1);
        _pooled = await _application.PooledSessionAsync();
        Assert.That(await _application.PooledSessionAsync(), Is.EqualTo(_pooled), "an idle pooled session is handed back");
    }

    [TearDown]
    public async Task GiveTheDatabaseBack()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    [Test]
    public async Task Without_a_reset_the_application_gets_its_pooled_session_back() =>
        Assert.That(await Application.PooledSessionAsync(), Is.EqualTo(_pooled));

    [Test, ResetConnection]
    public async Task With_a_reset_the_application_starts_on_a_new_session() =>
        Assert.That(await Application.PooledSessionAsync(), Is.Not.EqualTo(_pooled));
}
