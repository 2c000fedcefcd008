using TestDbKit.Tests.Common;

namespace TestDbKit.MSTest.Tests;

/// <summary>
/// What the [ResetConnection] tests share. The base class resets in its [TestInitialize], before it opens the
/// test's connection, so the state a test needs is made before that (<see cref="BeforeSetUpAsync"/>, from the
/// constructor): an idle session in a pool of the class's own, proven to be handed back, and the list of every
/// session on the server. A reset closes that pooled session too (it closes every pool of the process), so a
/// test reads it again to see whether a reset ran before it. For the same reason these tests run alone.
/// </summary>
public abstract class ResetConnectionOnBaseFixture : ResilientDbTestBase, IAroundTheTest
{
    private DbServer? _server;
    private long _pooled;
    private HashSet<long> _before = [];

    protected ResetConnectionOnBaseFixture(TestContext context, DbEngine engine)
        : base(engine)
    {
        AroundTheTest.Register(context, this);
    }

    protected (long Session, bool Gone)? AfterTheTest { get; set; }

    protected DbServer Server => _server ?? throw new InvalidOperationException("BeforeSetUpAsync has not run");

    public async Task BeforeSetUpAsync()
    {
        AfterTheTest = null;
        _server = await DbServer.SharedAsync(Engine);
        _pooled = await ProbeAsync();
        Assert.AreEqual(_pooled, await ProbeAsync(), "the pool should hand its idle session back");
        _before = await ServerSessions.ListAsync(_server);
    }

    public async Task AfterTearDownAsync()
    {
        if (AfterTheTest is not { } after)
        {
            return;
        }

        if (after.Gone)
        {
            await ServerSessions.WaitGoneAsync(Server, after.Session);
        }
        else
        {
            Assert.Contains(after.Session, await ServerSessions.ListAsync(Server), "the session should still be on the server, idle in its pool");
        }
    }

    /// <summary>Fails unless a reset closed every pool after the test was set up to start, and the test runs on
    /// a session that was not on the server then.</summary>
    protected async Task AssertRunsOnANewSessionAsync()
    {
        Assert.AreNotEqual(_pooled, await ProbeAsync(), "no reset closed the pools before the test");
        var session = await Connection.SessionIdAsync(Engine);
        Assert.DoesNotContain(session, _before, $"session {session} was on the server before the test");
        Assert.AreEqual(1, Convert.ToInt32(await Connection.ScalarAsync("SELECT 1")));
    }

    /// <summary>Fails if a reset closed the pools before the test.</summary>
    protected async Task AssertNoResetRanAsync() =>
        Assert.AreEqual(_pooled, await ProbeAsync(), "a reset closed the pools before the test");

    private async Task<long> ProbeAsync()
    {
        var cs = Server.Dialect.WithApplicationName(Server.AdminConnectionString, $"tdk-mstest-probe-{Engine}");
        await using var connection = Server.CreateConnection(cs);
        await connection.OpenAsync();
        return await connection.SessionIdAsync(Engine);
    }
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
