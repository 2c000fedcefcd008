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
    public async Task Each_mode_isolates_the_test_as_it_says() =>
        _afterTheTest = await IsolationChecks.DuringTheTestAsync(Database, Connection, _expected);

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
