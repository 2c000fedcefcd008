using System.Data.Common;
using Orders.Tests;
using TestDbKit;
using TestDbKit.MSTest;

namespace Orders.Tests.MSTest;

/// <summary>
/// What one test does to the base class's <c>Connection</c> never reaches the next, in whatever order they run:
/// a test that ends inside a transaction broken by a unique violation leaves nothing behind, and every test
/// starts on a healthy connection and an empty table.
/// </summary>
public abstract class ConnectionHygieneTests(DbEngine engine) : OrderDatabase(engine)
{
    [TestMethod]
    public async Task A_unique_violation_leaves_the_transaction_broken()
    {
        var transaction = await Connection.BeginTransactionAsync();
        await Connection.ExecuteAsync("INSERT INTO orders (id, customer, total) VALUES (1, 'ada', 1)", transaction);
        var refused = await Assert.ThrowsAsync<DbException>(() => Connection.ExecuteAsync("INSERT INTO orders (id, customer, total) VALUES (2, 'ada', 2)", transaction));
        Assert.IsTrue(DbErrors.IsIntegrityViolation(refused));
        // Left as it is, uncommitted (PostgreSQL: aborted, every further statement fails with 25P02).
    }

    [TestMethod]
    public async Task Every_test_starts_healthy_on_an_empty_table()
    {
        // Whatever a test before left (the one above: a row in a broken transaction), this one starts clean.
        Assert.AreEqual(0L, Convert.ToInt64(await Connection.ScalarAsync("SELECT COUNT(*) FROM orders")));
        await Connection.ExecuteAsync("INSERT INTO orders (id, customer, total) VALUES (1, 'ada', 1)");
    }
}

[TestClass]
public sealed class PostgreSqlConnectionHygieneTests() : ConnectionHygieneTests(DbEngine.PostgreSql);

[TestClass]
public sealed class MySqlConnectionHygieneTests() : ConnectionHygieneTests(DbEngine.MySql);

/// <summary>
/// [ResetConnection] closes every pooled connection of the process before the test, the application's own too,
/// so the test starts on brand-new server sessions. In MSTest the base class applies it (its [TestInitialize]
/// resets before it opens <c>Connection</c>). The application leaves an idle session in its pool in the class's
/// [ClassInitialize], which runs before the class's one test; each class has one test, so that the state it
/// reads is its own. A reset reaches every pool of the process, so these run alone.
/// </summary>
public abstract class ApplicationPool(DbEngine engine) : OrderDatabase(engine)
{
    private static readonly Dictionary<string, (DatabasePool Pool, TestDatabase Database, OrderWorkload Application, long Pooled)> ByClass = [];

    /// <summary>The application of this class, and the session it left idle in its pool before the test.</summary>
    protected (OrderWorkload Application, long Pooled) Before
    {
        get
        {
            lock (ByClass)
            {
                var state = ByClass[GetType().FullName!];
                return (state.Application, state.Pooled);
            }
        }
    }

    /// <summary>Call from the class's [ClassInitialize]: the application writes, and its pool keeps the session idle.</summary>
    protected static async Task LeaveAnIdleSessionInThePoolAsync(TestContext context, DbEngine engine)
    {
        var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions { CreateSchema = OrderWorkload.CreateSchemaAsync });
        var database = await pool.LeaseAsync();
        var application = new OrderWorkload(OrderWorkload.Settings(database));
        await application.WriteAsync(1);
        var pooled = await application.PooledSessionAsync();
        Assert.AreEqual(pooled, await application.PooledSessionAsync(), "an idle pooled session is handed back");
        lock (ByClass)
        {
            ByClass[context.FullyQualifiedTestClassName!] = (pool, database, application, pooled);
        }
    }

    [ClassCleanup(InheritanceBehavior.BeforeEachDerivedClass)]
    public static async Task GiveTheDatabaseBackAsync(TestContext context)
    {
        (DatabasePool Pool, TestDatabase Database, OrderWorkload, long) state;
        lock (ByClass)
        {
            if (!ByClass.Remove(context.FullyQualifiedTestClassName!, out state))
            {
                return;
            }
        }

        await state.Database.DisposeAsync();
        await state.Pool.DisposeAsync();
    }
}

public abstract class WithoutResetTests(DbEngine engine) : ApplicationPool(engine)
{
    [TestMethod]
    public async Task Without_a_reset_the_application_gets_its_pooled_session_back() =>
        Assert.AreEqual(Before.Pooled, await Before.Application.PooledSessionAsync());
}

public abstract class ResetConnectionTests(DbEngine engine) : ApplicationPool(engine)
{
    [TestMethod, ResetConnection]
    public async Task With_a_reset_the_application_starts_on_a_new_session() =>
        Assert.AreNotEqual(Before.Pooled, await Before.Application.PooledSessionAsync());
}

// MSTest's [ClassInitialize] is static: each class says its engine.
[TestClass, DoNotParallelize]
public sealed class PostgreSqlWithoutResetTests() : WithoutResetTests(DbEngine.PostgreSql)
{
    [ClassInitialize]
    public static Task Initialize(TestContext context) => LeaveAnIdleSessionInThePoolAsync(context, DbEngine.PostgreSql);
}

[TestClass, DoNotParallelize]
public sealed class PostgreSqlResetConnectionTests() : ResetConnectionTests(DbEngine.PostgreSql)
{
    [ClassInitialize]
    public static Task Initialize(TestContext context) => LeaveAnIdleSessionInThePoolAsync(context, DbEngine.PostgreSql);
}

[TestClass, DoNotParallelize]
public sealed class MySqlWithoutResetTests() : WithoutResetTests(DbEngine.MySql)
{
    [ClassInitialize]
    public static Task Initialize(TestContext context) => LeaveAnIdleSessionInThePoolAsync(context, DbEngine.MySql);
}

[TestClass, DoNotParallelize]
public sealed class MySqlResetConnectionTests() : ResetConnectionTests(DbEngine.MySql)
{
    [ClassInitialize]
    public static Task Initialize(TestContext context) => LeaveAnIdleSessionInThePoolAsync(context, DbEngine.MySql);
}
