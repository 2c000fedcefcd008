using System.Data.Common;
using TestDbKit.NUnit;
using TestDbKit.Tests.Common;

namespace TestDbKit.NUnit.Tests;

/// <summary>
/// The base class's <c>isolation</c> parameter: each mode does what it says, seen from outside the test's own
/// sessions. What a mode does after the test (keep and empty the database, or drop it) is checked in
/// <see cref="AfterTearDownAsync"/>, after the base class gave the database back.
/// </summary>
[TestFixture(DbEngine.PostgreSql, IsolationMode.Transaction)]
[TestFixture(DbEngine.PostgreSql, IsolationMode.Reset)]
[TestFixture(DbEngine.PostgreSql, IsolationMode.Clone)]
[TestFixture(DbEngine.MySql, IsolationMode.Transaction)]
[TestFixture(DbEngine.MySql, IsolationMode.Reset)]
[TestFixture(DbEngine.MySql, IsolationMode.Clone)]
[AroundTheTest]
public sealed class IsolationTests(DbEngine engine, IsolationMode isolation) : ResilientDbTestBase(engine, isolation), IAroundTheTest
{
    private readonly IsolationMode _expected = isolation;
    private Func<Task>? _afterTheTest;

    protected override Task CreateSchemaAsync(DbConnection connection) => Health.CreateItemsAsync(connection, Engine);

    [Test]
    public async Task Each_mode_isolates_the_test_as_it_says()
    {
        var mode = Database.Isolation;
        Assert.That(mode, Is.EqualTo(_expected));
        Assert.That(Convert.ToInt64(await Connection.ScalarAsync("SELECT COUNT(*) FROM items")), Is.Zero);
        var server = Database.Server;
        var name = Database.Name;
        switch (mode)
        {
            case IsolationMode.Transaction:
                // The test's connection writes inside a transaction the kit began: the test sees its row, a
                // session of its own does not, since it was never committed.
                await Connection.ScalarAsync("INSERT INTO items (tag) VALUES ('uncommitted')");
                Assert.That(Convert.ToInt64(await Connection.ScalarAsync("SELECT COUNT(*) FROM items")), Is.EqualTo(1));
                Assert.That(await ServerSessions.ItemsAsync(server, name), Is.Zero);
                _afterTheTest = async () =>
                {
                    Assert.That(await ServerSessions.DatabaseExistsAsync(server, name), Is.True, $"{name} was dropped; Transaction keeps it for the next test");
                    Assert.That(await ServerSessions.ItemsAsync(server, name), Is.Zero);
                };
                break;

            case IsolationMode.Reset:
                // A row committed on another connection: the database keeps it until the test ends.
                await using (var other = await Database.OpenConnectionAsync())
                {
                    await other.ScalarAsync("INSERT INTO items (tag) VALUES ('committed')");
                }

                Assert.That(await ServerSessions.ItemsAsync(server, name), Is.EqualTo(1));
                _afterTheTest = async () =>
                {
                    Assert.That(await ServerSessions.DatabaseExistsAsync(server, name), Is.True, $"{name} was dropped; Reset keeps it for the next test");
                    Assert.That(await ServerSessions.ItemsAsync(server, name), Is.Zero, "emptied for the next test");
                };
                break;

            case IsolationMode.Clone:
                // A database of the test's own: the test may change its schema, and it is dropped afterwards.
                await Connection.ScalarAsync("CREATE TABLE only_in_this_clone (id INT)");
                await Connection.ScalarAsync("INSERT INTO items (tag) VALUES ('committed')");
                Assert.That(await ServerSessions.ItemsAsync(server, name), Is.EqualTo(1));
                _afterTheTest = () => ServerSessions.WaitDatabaseGoneAsync(server, name); // dropped after the test
                break;

            default:
                throw new InvalidOperationException($"no check for {mode}");
        }
    }

    public Task BeforeSetUpAsync()
    {
        _afterTheTest = null;
        return Task.CompletedTask;
    }

    public Task AfterTearDownAsync() => _afterTheTest?.Invoke() ?? Task.CompletedTask;
}
