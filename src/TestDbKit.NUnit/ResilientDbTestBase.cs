using System.Collections.Concurrent;
using System.Data.Common;
using NUnit.Framework;
using TestDbKit.Sessions;

namespace TestDbKit.NUnit;

/// <summary>
/// Base class for NUnit tests on a real database. Every test gets its own database (leased from a pool
/// built once from <see cref="CreateSchemaAsync(DbConnection)"/> or <see cref="CreateSchemaAsync(SchemaTarget, CancellationToken)"/>) and its own <see cref="Connection"/>, open and proven
/// alive, also when tests of one fixture instance run at the same time
/// (<c>[Parallelizable(ParallelScope.All)]</c>). Whatever a test breaks is cleaned up before the next test.
/// </summary>
/// <remarks>Configure the server, the pool and the connection string from code by overriding
/// <see cref="Configure"/> (per fixture) or with <see cref="TestDbConfigurationAttribute"/> (per assembly). What the
/// kit says about a test (leaked connections, a discarded connection, a failed reset) goes to that test's
/// <c>TestContext.Out</c>.</remarks>
public abstract class ResilientDbTestBase
{
    // NUnit may run the tests of one fixture instance in parallel: state is per test, not per instance.
    private readonly ConcurrentDictionary<string, TestSession> _sessions = new();
    private readonly IsolationMode _isolation;

    /// <summary>Creates the base for tests on <paramref name="engine"/>.</summary>
    /// <param name="engine">The engine the tests run on; PostgreSQL when omitted.</param>
    /// <param name="isolation">How tests are kept apart; <see cref="IsolationMode.Reset"/> when omitted.</param>
    protected ResilientDbTestBase(DbEngine engine = DbEngine.PostgreSql, IsolationMode isolation = IsolationMode.Reset)
    {
        Engine = engine;
        _isolation = isolation;
    }

    /// <summary>The engine this fixture runs on.</summary>
    protected DbEngine Engine { get; }

    /// <summary>The running test's connection: open and proven alive when the test starts, and this test's alone.</summary>
    protected DbConnection Connection => Current.CurrentConnection();

    /// <summary>The running test's database: its name, connection string, and more connections to it.</summary>
    protected TestDatabase Database => Current.Database;

    /// <summary>Breaks this test's database on purpose (kills sessions, cancels statements, holds locks,
    /// shortens timeouts); every fault is undone when the test ends, pass or fail. Faults that reach the whole
    /// server (crash, restart, freeze, connection exhaustion, MySQL's global timeouts and read-only) need
    /// <see cref="DedicatedServerAttribute"/> on the test class.</summary>
    protected FaultInjector Faults => Database.Faults;

    private TestSession Current =>
        _sessions.TryGetValue(TestContext.CurrentContext.Test.ID, out var session)
            ? session
            : throw new InvalidOperationException(
                "No database session for this test: Connection and Database exist from [SetUp] to [TearDown] of a test, not in [OneTimeSetUp] or the constructor.");

    /// <summary>Creates the schema on a new, empty database. Runs once per schema for the whole test run.</summary>
    /// <param name="connection">An open connection to the database being built.</param>
    protected virtual Task CreateSchemaAsync(DbConnection connection) => Task.CompletedTask;

    /// <summary>Builds the schema in a new, empty database given by name and connection string, for code that opens
    /// connections of its own: EF Core's migrations or <c>EnsureCreated</c> on a context made from
    /// <see cref="SchemaTarget.ConnectionString"/>. Runs where <see cref="CreateSchemaAsync(DbConnection)"/> would (once
    /// per schema on PostgreSQL's template, on each pooled database on MySQL); override one of the two. Test classes
    /// that share the overridden method's declaring class share the schema. By default it opens a connection
    /// (<see cref="SchemaTarget.OpenConnectionAsync"/>) and runs <see cref="CreateSchemaAsync(DbConnection)"/> on it.</summary>
    /// <param name="target">The database being built: its name, engine and connection string.</param>
    /// <param name="ct">Cancelled when the run is.</param>
    /// <returns>A task that completes when the schema is built. Close every connection and context opened here
    /// before it completes: on PostgreSQL the kit ends sessions still on the template, which it then copies.</returns>
    /// <example>
    /// <code>
    /// protected override async Task CreateSchemaAsync(SchemaTarget target, CancellationToken ct)
    /// {
    ///     await using var db = new ShopContext(new DbContextOptionsBuilder&lt;ShopContext&gt;()
    ///         .UseNpgsql(target.ConnectionString, o => o.MapEnum&lt;Mood&gt;("mood")).Options);
    ///     await db.Database.MigrateAsync(ct);
    /// }
    /// </code>
    /// </example>
    protected virtual async Task CreateSchemaAsync(SchemaTarget target, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(target);
        var connection = await target.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await CreateSchemaAsync(connection).ConfigureAwait(false);
        }
    }

    /// <summary>Configures this fixture's server, pool and connection string from code. Runs before every test,
    /// after the assembly's <see cref="TestDbConfigurationAttribute"/>, and sees what it set; what stays unset
    /// is taken from the <c>TESTDBKIT_*</c> variables, then the defaults.</summary>
    /// <param name="options">The options so far; change what this fixture needs.</param>
    protected virtual void Configure(TestDbOptions options)
    {
    }

    /// <summary>Starts the test's database session (NUnit runs base-class set-ups first).</summary>
    [SetUp]
    public Task StartDatabaseSessionAsync()
    {
        // Not an async method: the test it makes current (for the run report) must outlive this call and reach the body.
        var test = TestContext.CurrentContext.Test;
        // A method-level [ResetConnection] marks the test; a fixture-level one is found on the class.
        var reset = test.Properties.ContainsKey(ResetConnectionAttribute.Property)
            || Attribute.IsDefined(GetType(), typeof(ResetConnectionAttribute), inherit: true);
        // The test's own writer, taken now: the kit may write from TearDown and from its own threads.
        var output = TestContext.Out;
        var options = SessionOptionsResolver.For(GetType(), test.FullName, Engine, _isolation, Configure, CreateSchemaAsync, reset, new TestOutput(output.WriteLine));
        return KeepAsync(test.ID, TestSession.Begin(options, TestContext.CurrentContext.CancellationToken));
    }

    private async Task KeepAsync(string testId, Task<TestSession> starting) => _sessions[testId] = await starting.ConfigureAwait(false);

    /// <summary>Ends the test's database session (NUnit runs base-class tear-downs last).</summary>
    [TearDown]
    public async Task EndDatabaseSessionAsync()
    {
        if (_sessions.TryRemove(TestContext.CurrentContext.Test.ID, out var session))
        {
            await session.EndAsync(CancellationToken.None).ConfigureAwait(false); // what the test left behind goes to its output
        }
    }
}
