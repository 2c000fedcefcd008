using System.Data.Common;
using TestDbKit.Tests.Common;

namespace TestDbKit.MSTest.Tests;

/// <summary>
/// The base class's <c>isolation</c> parameter: each mode does what it says, seen from outside the test's own
/// sessions. What a mode does after the test (keep and empty the database, or drop it) is checked in
/// <see cref="AfterTearDownAsync"/>, after the base class gave the database back. MSTest has no parameterised
/// classes: one sealed class per engine and mode.
/// </summary>
public abstract class IsolationTests : ResilientDbTestBase, IAroundTheTest
{
    private readonly IsolationMode _expected;
    private Func<Task>? _afterTheTest;

    protected IsolationTests(TestContext context, DbEngine engine, IsolationMode isolation)
        : base(engine, isolation)
    {
        _expected = isolation;
        AroundTheTest.Register(context, this);
    }

    protected override Task CreateSchemaAsync(DbConnection connection) => Health.CreateItemsAsync(connection, Engine);

    [TestMethod]
    public async Task Each_mode_isolates_the_test_as_it_says() =>
        _afterTheTest = await IsolationChecks.DuringTheTestAsync(Database, Connection, _expected);

    public Task BeforeSetUpAsync() => Task.CompletedTask;

    public Task AfterTearDownAsync() => _afterTheTest?.Invoke() ?? Task.CompletedTask;
}

[TestClass]
public sealed class PostgreSqlTransactionIsolationTests(TestContext context) : IsolationTests(context, DbEngine.PostgreSql, IsolationMode.Transaction);

[TestClass]
public sealed class PostgreSqlResetIsolationTests(TestContext context) : IsolationTests(context, DbEngine.PostgreSql, IsolationMode.Reset);

[TestClass]
public sealed class PostgreSqlCloneIsolationTests(TestContext context) : IsolationTests(context, DbEngine.PostgreSql, IsolationMode.Clone);

[TestClass]
public sealed class MySqlTransactionIsolationTests(TestContext context) : IsolationTests(context, DbEngine.MySql, IsolationMode.Transaction);

[TestClass]
public sealed class MySqlResetIsolationTests(TestContext context) : IsolationTests(context, DbEngine.MySql, IsolationMode.Reset);

[TestClass]
public sealed class MySqlCloneIsolationTests(TestContext context) : IsolationTests(context, DbEngine.MySql, IsolationMode.Clone);
