using System.Data.Common;
using Microsoft.VisualStudio.TestTools.UnitTesting;
using TestDbKit.Sessions;

namespace TestDbKit.MSTest;

/// <summary>
/// Base class for MSTest tests on a real database. Every test gets its own database (leased from a pool
/// built once from <see cref="CreateSchemaAsync(DbConnection)"/> or <see cref="CreateSchemaAsync(SchemaTarget, CancellationToken)"/>) and its own <see cref="Connection"/>, open and proven
/// alive, also when tests run at the same time (<c>[assembly: Parallelize(Scope = ExecutionScope.MethodLevel)]</c>).
/// Whatever a test breaks (a killed session, an aborted transaction, a leaked connection) is cleaned up before
/// the next test, and the database is emptied of what the test wrote.
/// </summary>
/// <example>
/// <code>
/// [TestClass]
/// public sealed class OrderTests() : ResilientDbTestBase(DbEngine.MySql)
/// {
///     protected override Task CreateSchemaAsync(DbConnection connection) => ...;
///     [TestMethod] public async Task Saves() { await using var cmd = Connection.CreateCommand(); ... }
/// }
/// </code>
/// </example>
/// <remarks>Configure the server, the pool and the connection string from code by overriding
/// <see cref="Configure"/> (per class) or with <see cref="TestDbConfigurationAttribute"/> (per assembly). What the
/// kit says about a test (leaked connections, a discarded connection, a failed reset) goes to that test's
/// output through <see cref="TestContext"/>.</remarks>
public abstract class ResilientDbTestBase
{
    private readonly IsolationMode _isolation;

    // MSTest makes a new instance of the test class for every test (every data row too), also when tests run in
    // parallel, so the session is the instance's own; StartDatabaseSessionAsync refuses an instance used twice.
    private TestSession? _session;
    private ResetConnectionAttribute? _reset;

    /// <summary>Creates the base for tests on <paramref name="engine"/>.</summary>
    /// <param name="engine">The engine the tests run on; PostgreSQL when omitted.</param>
    /// <param name="isolation">How tests are kept apart; <see cref="IsolationMode.Reset"/> when omitted.</param>
    protected ResilientDbTestBase(DbEngine engine = DbEngine.PostgreSql, IsolationMode isolation = IsolationMode.Reset)
    {
        Engine = engine;
        _isolation = isolation;
    }

    /// <summary>The running test's context, set by MSTest before the test initializes: the base class takes the
    /// test's name, cancellation and output from it. A derived class uses this one rather than declaring its own.</summary>
    public TestContext TestContext { get; set; } = null!;

    /// <summary>The engine this test runs on.</summary>
    protected DbEngine Engine { get; }

    /// <summary>This test's connection: open and proven alive when the test starts, and this test's alone.
    /// After a <c>[ResetConnection]</c> it is on a brand-new server session.</summary>
    protected DbConnection Connection => Session.CurrentConnection();

    /// <summary>This test's database: its name, connection string, and more connections to it.</summary>
    protected TestDatabase Database => Session.Database;

    /// <summary>Breaks this test's database on purpose (kills sessions, cancels statements, holds locks,
    /// shortens timeouts); every fault is undone when the test ends, pass or fail. Faults that reach the whole
    /// server (crash, restart, freeze, connection exhaustion, MySQL's global timeouts and read-only) need
    /// <see cref="DedicatedServerAttribute"/> on the test class.</summary>
    protected FaultInjector Faults => Database.Faults;

    private TestSession Session => _session ?? throw new InvalidOperationException(
        "No database session for this test: Connection and Database exist from [TestInitialize] to [TestCleanup] of a test, not in [ClassInitialize] or the constructor.");

    /// <summary>Creates the schema on a new, empty database. Runs once per schema for the whole test run
    /// (test classes that share this method's declaring class share the schema).</summary>
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

    /// <summary>Configures this class's server, pool and connection string from code. Runs before every test,
    /// after the assembly's <see cref="TestDbConfigurationAttribute"/>, and sees what it set; what stays unset
    /// is taken from the <c>TESTDBKIT_*</c> variables, then the defaults.</summary>
    /// <param name="options">The options so far; change what this class needs.</param>
    protected virtual void Configure(TestDbOptions options)
    {
    }

    /// <summary>Starts the test's database session (MSTest runs base-class initializers first).</summary>
    /// <exception cref="InvalidOperationException">MSTest did not set <see cref="TestContext"/> (a derived class
    /// declares a property of that name and hides this one), or this instance already ran a test.</exception>
    [TestInitialize]
    public Task StartDatabaseSessionAsync()
    {
        // Not an async method: the test it makes current (for the run report) must outlive this call and reach the body.
        var context = TestContext ?? throw new InvalidOperationException(
            $"{GetType().FullName}: MSTest did not set ResilientDbTestBase.TestContext. Remove the class's own TestContext property (it hides the base class's); use the inherited one.");
        if (_session is not null)
        {
            throw new InvalidOperationException($"{GetType().FullName}: this instance already has a database session; the base class needs MSTest's instance per test.");
        }

        // The display name carries a data row's arguments; the class name is the test class's, not the declaring one's.
        var testName = $"{context.FullyQualifiedTestClassName}.{context.TestDisplayName ?? context.TestName}";
        _reset = ResetConnectionAttribute.For(GetType(), context.TestName ?? "");
        var output = new TestOutput(context.WriteLine);
        var options = SessionOptionsResolver.For(GetType(), testName, Engine, _isolation, Configure, CreateSchemaAsync, _reset is not null, output);
        return KeepAsync(TestSession.Begin(options, context.CancellationToken));
    }

    private async Task KeepAsync(Task<TestSession> starting) => _session = await starting.ConfigureAwait(false);

    /// <summary>Ends the test's database session (MSTest runs base-class cleanups last); with
    /// <c>[ResetConnection(After = true)]</c>, then closes every pooled connection.</summary>
    [TestCleanup]
    public async Task EndDatabaseSessionAsync()
    {
        var session = _session;
        _session = null;
        if (session is not null)
        {
            await session.EndAsync(CancellationToken.None).ConfigureAwait(false); // what the test left behind goes to its output
        }

        if (_reset?.After == true)
        {
            ConnectionReset.ClearAllPools();
        }
    }
}
