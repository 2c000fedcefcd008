using System.Data.Common;
using Orders.Tests;
using TestDbKit;
using TestDbKit.NUnit;

namespace Orders.Tests.NUnit;

/// <summary>
/// What one test does to the base class's <c>Connection</c> never reaches the next: a test that ends inside
/// a transaction broken by a unique violation is followed by one on a healthy connection and an empty table.
/// The tests of this fixture run in order, one at a time; the fixture runs beside the others.
/// </summary>
[TestFixture(DbEngine.PostgreSql)]
[TestFixture(DbEngine.MySql)]
[Parallelizable(ParallelScope.Self)]
public sealed class ConnectionHygieneTests(DbEngine engine) : OrderDatabase(engine)
{
    private HashSet<long> _sessionsBefore = [];

    [Test, Order(1)]
    public async Task A_unique_violation_leaves_the_transaction_broken()
    {
        var transaction = await Connection.BeginTransactionAsync();
        await Connection.ExecuteAsync("INSERT INTO orders (id, customer, total) VALUES (1, 'ada', 1)", transaction);
        var refused = Assert.CatchAsync<DbException>(() => Connection.ExecuteAsync("INSERT INTO orders (id, customer, total) VALUES (2, 'ada', 2)", transaction));
        Assert.That(DbErrors.IsIntegrityViolation(refused!), Is.True);
        // Left as it is, uncommitted (PostgreSQL: aborted, every further statement fails with 25P02).
    }

    [Test, Order(2)]
    public async Task The_next_test_starts_healthy_on_an_empty_table()
    {
        Assert.That(Convert.ToInt64(await Connection.ScalarAsync("SELECT COUNT(*) FROM orders")), Is.Zero);
        await Connection.ExecuteAsync("INSERT INTO orders (id, customer, total) VALUES (1, 'ada', 1)");
        _sessionsBefore = await Database.Server.SessionsAsync(); // this one included, back in the pool after the test
    }

    [Test, Order(3), ResetConnection]
    public async Task A_reset_connection_test_starts_on_a_session_that_did_not_exist_before()
    {
        // Without the reset, the pool would hand back one of the sessions the test before saw.
        var session = await Connection.SessionIdAsync(Engine);
        Assert.That(_sessionsBefore, Is.Not.Empty.And.Not.Contains(session));
    }
}
