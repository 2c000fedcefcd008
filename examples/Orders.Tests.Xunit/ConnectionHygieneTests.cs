using System.Data.Common;
using Orders.Tests;
using TestDbKit;
using TestDbKit.Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Orders.Tests.Xunit;

/// <summary>Runs a class's tests in the order of their names, for tests about what the one before left.</summary>
public sealed class ByName : ITestCaseOrderer
{
    public IEnumerable<TTestCase> OrderTestCases<TTestCase>(IEnumerable<TTestCase> testCases)
        where TTestCase : ITestCase =>
        testCases.OrderBy(t => t.TestMethod.Method.Name, StringComparer.Ordinal);
}

/// <summary>
/// What one test does to the base class's <c>Connection</c> never reaches the next: a test that ends inside
/// a transaction broken by a unique violation is followed by one on a healthy connection and an empty table.
/// </summary>
[TestCaseOrderer("Orders.Tests.Xunit.ByName", "Orders.Tests.Xunit")]
public abstract class ConnectionHygieneTests(DbEngine engine) : OrderDatabase(engine)
{
    private static readonly Dictionary<DbEngine, HashSet<long>> SessionsBefore = [];

    [Fact]
    public async Task A_a_unique_violation_leaves_the_transaction_broken()
    {
        var transaction = await Connection.BeginTransactionAsync();
        await Connection.ExecuteAsync("INSERT INTO orders (id, customer, total) VALUES (1, 'ada', 1)", transaction);
        var refused = await Assert.ThrowsAnyAsync<DbException>(() => Connection.ExecuteAsync("INSERT INTO orders (id, customer, total) VALUES (2, 'ada', 2)", transaction));
        Assert.True(DbErrors.IsIntegrityViolation(refused));
        // Left as it is, uncommitted (PostgreSQL: aborted, every further statement fails with 25P02).
    }

    [Fact]
    public async Task B_the_next_test_starts_healthy_on_an_empty_table()
    {
        Assert.Equal(0L, Convert.ToInt64(await Connection.ScalarAsync("SELECT COUNT(*) FROM orders")));
        await Connection.ExecuteAsync("INSERT INTO orders (id, customer, total) VALUES (1, 'ada', 1)");
        SessionsBefore[Engine] = await Database.Server.SessionsAsync(); // this one included, back in the pool after the test
    }

    [Fact, ResetConnection]
    public async Task C_a_reset_connection_test_starts_on_a_session_that_did_not_exist_before()
    {
        // Without the reset, the pool would hand back one of the sessions B saw.
        Assert.DoesNotContain(await Connection.SessionIdAsync(Engine), SessionsBefore[Engine]);
    }
}

public sealed class PostgreSqlConnectionHygieneTests() : ConnectionHygieneTests(DbEngine.PostgreSql);

public sealed class MySqlConnectionHygieneTests() : ConnectionHygieneTests(DbEngine.MySql);
