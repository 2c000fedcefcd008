using System.Data.Common;
using TestDbKit.Sessions;
using Xunit;
#if !XUNIT_V3
using Xunit.Abstractions;
#endif

namespace TestDbKit.Xunit;

// One source for both xunit packages: TestDbKit.Xunit (v2) compiles it as it is, TestDbKit.XunitV3 with XUNIT_V3
// defined (see its project file). Only the hooks each xunit major offers differ; what the kit does is in the core.

/// <summary>
/// Base class for xunit tests on a real database. Every test gets its own database (leased from a pool
/// built once from <see cref="CreateSchemaAsync(DbConnection)"/> or <see cref="CreateSchemaAsync(SchemaTarget, CancellationToken)"/>) and its own <see cref="Connection"/>, open and proven
/// alive. Whatever a test breaks (a killed session, an aborted transaction, a leaked connection) is
/// cleaned up before the next test, and the database is emptied of what the test wrote.
/// </summary>
/// <example>
/// <code>
/// public sealed class OrderTests : ResilientDbTestBase
/// {
///     public OrderTests() : base(DbEngine.MySql) { }
///     protected override Task CreateSchemaAsync(DbConnection connection) => ...;
///     [Fact] public async Task Saves() { await using var cmd = Connection.CreateCommand(); ... }
/// }
/// </code>
/// </example>
/// <remarks>Configure the server, the pool and the connection string from code by overriding
/// <see cref="Configure"/> (per class) or with <see cref="TestDbConfigurationAttribute"/> (per assembly). On xunit v3
/// what the kit says about a test goes to that test's own output (<c>TestContext.Current</c>), and leak reports name
/// the test with its arguments. On xunit v2 take an <see cref="ITestOutputHelper"/> in the constructor for both (v2
/// tells nothing else which test runs); without it the kit writes to standard error and names the class. On both, a derived class's
/// <c>Dispose</c> runs after the database was given back; a derived class must not implement
/// <c>IAsyncLifetime</c> or <c>IAsyncDisposable</c> again (that would hide the base's).</remarks>
public abstract class ResilientDbTestBase : IAsyncLifetime
{
    private readonly IsolationMode _isolation;
    private readonly TestOutput? _output;
#if !XUNIT_V3
    private readonly string? _testName;
#endif

    /// <summary>Breaks this test's database on purpose (kills sessions, cancels statements, holds locks,
    /// shortens timeouts); every fault is undone when the test ends, pass or fail. Faults that reach the whole
    /// server (crash, restart, freeze, connection exhaustion, MySQL's global timeouts and read-only) need
    /// <see cref="DedicatedServerAttribute"/> on the test class.</summary>
    protected FaultInjector Faults => Database.Faults;

    private TestSession? _session;

    /// <summary>Creates the base for tests on <paramref name="engine"/>.</summary>
    /// <param name="engine">The engine the tests run on; PostgreSQL when omitted.</param>
    /// <param name="isolation">How tests are kept apart; <see cref="IsolationMode.Reset"/> when omitted.</param>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
        Justification = "The two constructors differ in their first, required parameter's type, so no call can be ambiguous.")]
    protected ResilientDbTestBase(DbEngine engine = DbEngine.PostgreSql, IsolationMode isolation = IsolationMode.Reset)
    {
        Engine = engine;
        _isolation = isolation;
    }

    /// <summary>Creates the base for tests on <paramref name="engine"/> whose output (xunit's test output) gets
    /// what the kit says about the test: leaked connections, a broken connection it discarded, a failed reset,
    /// a server start.</summary>
    /// <param name="output">The test's output, as xunit passes it to the test class's constructor.</param>
    /// <param name="engine">The engine the tests run on; PostgreSQL when omitted.</param>
    /// <param name="isolation">How tests are kept apart; <see cref="IsolationMode.Reset"/> when omitted.</param>
    /// <remarks>On xunit v3 the kit finds the test's output without it; it is there so that a class moved from
    /// xunit v2 compiles unchanged.</remarks>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
        Justification = "The two constructors differ in their first, required parameter's type, so no call can be ambiguous.")]
    protected ResilientDbTestBase(ITestOutputHelper output, DbEngine engine = DbEngine.PostgreSql, IsolationMode isolation = IsolationMode.Reset)
        : this(engine, isolation)
    {
        ArgumentNullException.ThrowIfNull(output);
        _output = new TestOutput(output.WriteLine);
#if !XUNIT_V3
        _testName = XunitV2Test.NameOf(output, GetType());
#endif
    }

    /// <summary>The engine this test runs on.</summary>
    protected DbEngine Engine { get; }

    /// <summary>This test's connection: open and proven alive when the test starts, and this test's alone.
    /// After a <c>[ResetConnection]</c> it is on a brand-new server session.</summary>
    protected DbConnection Connection => Session.CurrentConnection();

    /// <summary>This test's database: its name, connection string, and more connections to it.</summary>
    protected TestDatabase Database => Session.Database;

    private TestSession Session => _session ?? throw new InvalidOperationException(
        "The database session starts in InitializeAsync: use Connection and Database in test methods, not in the constructor.");

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

#if XUNIT_V3
    /// <inheritdoc />
    ValueTask IAsyncLifetime.InitializeAsync()
    {
        // Not an async method: the test it makes current (for the run report) must outlive this call and reach the body.
        // The running test, its output and its cancellation (a cancelled run stops waiting for a server or a database).
        var context = TestContext.Current;
        var testName = TestNames.Full(GetType().FullName ?? GetType().Name, context.TestCase?.TestMethodName, context.Test?.TestDisplayName);
        var output = _output ?? (context.TestOutputHelper is { } helper ? new TestOutput(helper.WriteLine) : null);
        var options = SessionOptionsResolver.For(GetType(), testName, Engine, _isolation, Configure, CreateSchemaAsync, resetBefore: false, output);
        return new ValueTask(KeepAsync(TestSession.Begin(options, context.CancellationToken)));
    }

    /// <summary>Gives the test's database back, then runs the derived class's <see cref="IDisposable.Dispose"/> if
    /// it has one: xunit v3 disposes a class that is both only through this method, and a class moved from xunit v2
    /// (where xunit calls both) expects its <c>Dispose</c> to run after the database was given back.</summary>
    async ValueTask IAsyncDisposable.DisposeAsync()
    {
        GC.SuppressFinalize(this);
        try
        {
            await EndSessionAsync().ConfigureAwait(false);
        }
        finally
        {
            (this as IDisposable)?.Dispose();
        }
    }
#else
    /// <inheritdoc />
    Task IAsyncLifetime.InitializeAsync()
    {
        // Not an async method: the test it makes current (for the run report) must outlive this call and reach the body.
        var options = SessionOptionsResolver.For(GetType(), _testName ?? GetType().FullName ?? GetType().Name, Engine, _isolation, Configure, CreateSchemaAsync, resetBefore: false, _output);
        return KeepAsync(TestSession.Begin(options, CancellationToken.None));
    }

    /// <inheritdoc />
    Task IAsyncLifetime.DisposeAsync() => EndSessionAsync();
#endif

    private async Task KeepAsync(Task<TestSession> starting) => _session = await starting.ConfigureAwait(false);

    private async Task EndSessionAsync()
    {
        if (_session is not null)
        {
            // Not the test's cancellation: a test that timed out or a cancelled run still gives its database back clean.
            await _session.EndAsync(CancellationToken.None).ConfigureAwait(false); // what the test left behind goes to its output
        }
    }
}
