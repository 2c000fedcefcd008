using System.Data.Common;
using TestDbKit.Tests.Common;
using TestDbKit.Xunit;

namespace TestDbKit.Xunit.Tests;

/// <summary>
/// The base class's <c>isolation</c> parameter: each mode does what it says, seen from outside the test's own
/// sessions. What a mode does after the test (keep and empty the database, or drop it) is checked in
/// <see cref="Dispose"/>, which xunit runs after the base class gave the database back (xunit v2 has no
/// asynchronous hook there, so it waits).
/// </summary>
public abstract class IsolationTests(DbEngine engine, IsolationMode isolation) : ResilientDbTestBase(engine, isolation), IDisposable
{
    private readonly IsolationMode _expected = isolation;

    private Func<Task>? _afterTheTest;

    protected override Task CreateSchemaAsync(DbConnection connection) => Health.CreateItemsAsync(connection, Engine);

    [Fact]
    public async Task Each_mode_isolates_the_test_as_it_says()
    {
        var isolation = Database.Isolation;
        Assert.Equal(_expected, isolation);
        Assert.Equal(0L, Convert.ToInt64(await Connection.ScalarAsync("SELECT COUNT(*) FROM items")));
        var server = Database.Server;
        var name = Database.Name;
        switch (isolation)
        {
            case IsolationMode.Transaction:
                // The test's connection writes inside a transaction the kit began: the test sees its row, a
                // session of its own does not, since it was never committed.
                await Connection.ScalarAsync("INSERT INTO items (tag) VALUES ('uncommitted')");
                Assert.Equal(1L, Convert.ToInt64(await Connection.ScalarAsync("SELECT COUNT(*) FROM items")));
                Assert.Equal(0L, await ServerSessions.ItemsAsync(server, name));
                _afterTheTest = async () =>
                {
                    Assert.True(await ServerSessions.DatabaseExistsAsync(server, name), $"{name} was dropped; Transaction keeps it for the next test");
                    Assert.Equal(0L, await ServerSessions.ItemsAsync(server, name));
                };
                break;

            case IsolationMode.Reset:
                // A row committed on another connection: the database keeps it until the test ends.
                await using (var other = await Database.OpenConnectionAsync())
                {
                    await other.ScalarAsync("INSERT INTO items (tag) VALUES ('committed')");
                }

                Assert.Equal(1L, await ServerSessions.ItemsAsync(server, name));
                _afterTheTest = async () =>
                {
                    Assert.True(await ServerSessions.DatabaseExistsAsync(server, name), $"{name} was dropped; Reset keeps it for the next test");
                    Assert.Equal(0L, await ServerSessions.ItemsAsync(server, name)); // emptied for the next test
                };
                break;

            case IsolationMode.Clone:
                // A database of the test's own: the test may change its schema, and it is dropped afterwards.
                await Connection.ScalarAsync("CREATE TABLE only_in_this_clone (id INT)");
                await Connection.ScalarAsync("INSERT INTO items (tag) VALUES ('committed')");
                Assert.Equal(1L, await ServerSessions.ItemsAsync(server, name));
                _afterTheTest = () => ServerSessions.WaitDatabaseGoneAsync(server, name); // dropped after the test
                break;

            default:
                throw new InvalidOperationException($"no check for {isolation}");
        }
    }

    public void Dispose()
    {
        GC.SuppressFinalize(this);
        if (_afterTheTest is { } check)
        {
            Task.Run(check).GetAwaiter().GetResult();
        }
    }
}

public sealed class PostgresTransactionIsolation() : IsolationTests(DbEngine.PostgreSql, IsolationMode.Transaction);
public sealed class PostgresResetIsolation() : IsolationTests(DbEngine.PostgreSql, IsolationMode.Reset);
public sealed class PostgresCloneIsolation() : IsolationTests(DbEngine.PostgreSql, IsolationMode.Clone);
public sealed class MySqlTransactionIsolation() : IsolationTests(DbEngine.MySql, IsolationMode.Transaction);
public sealed class MySqlResetIsolation() : IsolationTests(DbEngine.MySql, IsolationMode.Reset);
public sealed class MySqlCloneIsolation() : IsolationTests(DbEngine.MySql, IsolationMode.Clone);
