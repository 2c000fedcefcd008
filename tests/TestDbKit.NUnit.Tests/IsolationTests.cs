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
    public async Task Each_mode_isolates_the_test_as_it_says() =>
        _afterTheTest = await IsolationChecks.DuringTheTestAsync(Database, Connection, _expected);

    public Task BeforeSetUpAsync()
    {
        _afterTheTest = null;
        return Task.CompletedTask;
    }

    public Task AfterTearDownAsync() => _afterTheTest?.Invoke() ?? Task.CompletedTask;
}
