using System.Data.Common;
using TestDbKit.Sessions;
using Xunit;
using Xunit.Abstractions;

namespace TestDbKit.Xunit;

/// <summary>
/// Base class for xunit v2 tests on a real database. Every test gets its own database (leased from a pool
/// built once from <see cref="CreateSchemaAsync"/>) and its own <see cref="Connection"/>, open and proven
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
/// <see cref="Configure"/> (per class) or with <see cref="TestDbConfigurationAttribute"/> (per assembly); take an
/// <see cref="ITestOutputHelper"/> in the constructor to see the kit's messages in the test's output.</remarks>
public abstract class ResilientDbTestBase : IAsyncLifetime
{
    private readonly IsolationMode _isolation;
    private readonly TestOutput? _output;
    /// <summary>Breaks this test's database on purpose (kills sessions, cancels statements, holds locks,
    /// shortens timeouts); every fault is undone when the test ends, pass or fail. Faults that reach the whole
    /// server (crash, restart, freeze, connection exhaustion, MySQL's global timeouts and read-only) need
    /// <see cref="DedicatedServerAttribute"/> on the test class.</summary>
    protected FaultInjector Faults => Database.Faults;

    private TestSession? _session;

    /// <summary>Creates the base for tests on <paramref name="engine"/>.</summary>
    /// <param name="engine">The engine the tests run on; PostgreSQL when omitted.</param>
    /// <param name="isolation">How tests are kept apart; <see cref="IsolationMode.Reset"/> when omitted.</param>
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
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
        Justification = "The two constructors differ in their first, required parameter's type, so no call can be ambiguous.")]
    protected ResilientDbTestBase(ITestOutputHelper output, DbEngine engine = DbEngine.PostgreSql, IsolationMode isolation = IsolationMode.Reset)
        : this(engine, isolation)
    {
        ArgumentNullException.ThrowIfNull(output);
        _output = new TestOutput(output.WriteLine);
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

    /// <summary>Configures this class's server, pool and connection string from code. Runs before every test,
    /// after the assembly's <see cref="TestDbConfigurationAttribute"/>, and sees what it set; what stays unset
    /// is taken from the <c>TESTDBKIT_*</c> variables, then the defaults.</summary>
    /// <param name="options">The options so far; change what this class needs.</param>
    protected virtual void Configure(TestDbOptions options)
    {
    }

    /// <inheritdoc />
    async Task IAsyncLifetime.InitializeAsync()
    {
        var options = SessionOptionsResolver.For(GetType(), GetType().FullName ?? GetType().Name, Engine, _isolation, Configure, CreateSchemaAsync, resetBefore: false, _output);
        _session = await TestSession.StartAsync(options, CancellationToken.None).ConfigureAwait(false);
    }

    /// <inheritdoc />
    async Task IAsyncLifetime.DisposeAsync()
    {
        if (_session is not null)
        {
            await _session.EndAsync(CancellationToken.None).ConfigureAwait(false); // what the test left behind goes to its output
        }
    }
}
