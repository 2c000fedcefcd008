using TestDbKit.Tests.Common;

namespace TestDbKit.MSTest.Tests;

/// <summary>
/// What the [ResetConnection] tests share. The base class resets in its [TestInitialize], before it opens the
/// test's connection, so the state a test needs (<see cref="ResetChecks"/>) is made before that, in
/// <see cref="BeforeSetUpAsync"/> (from the constructor). A reset closes every pool of the process, so these
/// tests run alone ([DoNotParallelize]).
/// </summary>
public abstract class ResetConnectionOnBaseFixture : ResilientDbTestBase, IAroundTheTest
{
    private ResetChecks? _checks;

    protected ResetConnectionOnBaseFixture(TestContext context, DbEngine engine)
        : base(engine)
    {
        AroundTheTest.Register(context, this);
    }

    protected (long Session, bool Gone)? AfterTheTest { get; set; }

    private ResetChecks Checks => _checks ?? throw new InvalidOperationException("BeforeSetUpAsync has not run");

    public async Task BeforeSetUpAsync()
    {
        AfterTheTest = null;
        _checks = await ResetChecks.BeforeTheTestAsync(Engine, $"tdk-mstest-probe-{Engine}");
    }

    public Task AfterTearDownAsync() =>
        AfterTheTest is { } after ? Checks.AfterTheTestAsync(after.Session, after.Gone) : Task.CompletedTask;

    protected Task AssertRunsOnANewSessionAsync() => Checks.AssertRunsOnANewSessionAsync(Connection);

    protected Task AssertNoResetRanAsync() => Checks.AssertNoResetRanAsync();
}

/// <summary>[ResetConnection] on base-class tests, on the method.</summary>
public abstract class ResetConnectionOnBaseTests(TestContext context, DbEngine engine) : ResetConnectionOnBaseFixture(context, engine)
{
    [TestMethod]
    public Task Without_reset_no_pool_is_closed_before_the_test() => AssertNoResetRanAsync();

    [TestMethod, ResetConnection]
    public Task A_reset_test_runs_on_a_session_that_did_not_exist_before_it() => AssertRunsOnANewSessionAsync();

    [TestMethod, ResetConnection(After = true)]
    public async Task Reset_after_closes_the_session_the_test_ran_on()
    {
        await AssertRunsOnANewSessionAsync();
        AfterTheTest = (await Connection.SessionIdAsync(Engine), Gone: true);
    }

    [TestMethod]
    public async Task Without_reset_after_the_session_a_test_ran_on_stays_on_the_server() =>
        AfterTheTest = (await Connection.SessionIdAsync(Engine), Gone: false);
}

[TestClass, DoNotParallelize]
public sealed class PostgreSqlResetConnectionOnBaseTests(TestContext context) : ResetConnectionOnBaseTests(context, DbEngine.PostgreSql);

[TestClass, DoNotParallelize]
public sealed class MySqlResetConnectionOnBaseTests(TestContext context) : ResetConnectionOnBaseTests(context, DbEngine.MySql);

/// <summary>[ResetConnection] on the class: every test of it runs on a brand-new session.</summary>
public abstract class ResetConnectionOnClassTests(TestContext context, DbEngine engine) : ResetConnectionOnBaseFixture(context, engine)
{
    [TestMethod, DataRow(1), DataRow(2)]
    public Task Every_test_runs_on_a_session_that_did_not_exist_before_it(int run) => AssertRunsOnANewSessionAsync();
}

[TestClass, DoNotParallelize, ResetConnection]
public sealed class PostgreSqlResetConnectionOnClassTests(TestContext context) : ResetConnectionOnClassTests(context, DbEngine.PostgreSql);

[TestClass, DoNotParallelize, ResetConnection]
public sealed class MySqlResetConnectionOnClassTests(TestContext context) : ResetConnectionOnClassTests(context, DbEngine.MySql);
