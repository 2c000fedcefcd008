using System.Data.Common;
using Orders.Tests;
using TestDbKit;
using TestDbKit.Xunit;

namespace Orders.Tests.Xunit;

/// <summary>
/// What one test does to the base class's <c>Connection</c> never reaches the next, in whatever order they run:
/// a test that ends inside a transaction broken by a unique violation leaves nothing behind, and every test
/// starts on a healthy connection and an empty table.
/// </summary>
public abstract class ConnectionHygieneTests(DbEngine engine) : OrderDatabase(engine)
{
    [Fact]
    public async Task A_unique_violation_leaves_the_transaction_broken()
    {
        var transaction = await Connection.BeginTransactionAsync();
        await Connection.ExecuteAsync("INSERT INTO orders (id, customer, total) VALUES (1, 'ada', 1)", transaction);
        var refused = await Assert.ThrowsAnyAsync<DbException>(() => Connection.ExecuteAsync("INSERT INTO orders (id, customer, total) VALUES (2, 'ada', 2)", transaction));
        Assert.True(DbErrors.IsIntegrityViolation(refused));
        // Left as it is, uncommitted (PostgreSQL: aborted, every further statement fails with 25P02).
    }

    [Fact]
    public async Task Every_test_starts_healthy_on_an_empty_table()
    {
        // Whatever a test before left (the one above: a row in a broken transaction), this one starts clean.
        Assert.Equal(0L, Convert.ToInt64(await Connection.ScalarAsync("SELECT COUNT(*) FROM orders")));
        await Connection.ExecuteAsync("INSERT INTO orders (id, customer, total) VALUES (1, 'ada', 1)");
    }

    [Fact, ResetConnection]
    public async Task A_reset_connection_test_starts_on_a_session_that_did_not_exist_before()
    {
        // The base class opened this test's connection before xunit ran [ResetConnection]; until the test first
        // uses it, that session is on the server, and without the reset the test would run on it.
        var before = await Database.Server.SessionsAsync(Database.Name);
        Assert.NotEmpty(before);
        // The reset closed every pooled connection: on first use, Connection is on a brand-new session.
        Assert.DoesNotContain(await Connection.SessionIdAsync(Engine), before);
    }
}

public sealed class PostgreSqlConnectionHygieneTests() : ConnectionHygieneTests(DbEngine.PostgreSql);

public sealed class MySqlConnectionHygieneTests() : ConnectionHygieneTests(DbEngine.MySql);
