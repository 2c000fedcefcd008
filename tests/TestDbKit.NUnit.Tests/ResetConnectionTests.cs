using TestDbKit.NUnit;
using TestDbKit.Tests.Common;

namespace TestDbKit.NUnit.Tests;

/// <summary>
/// [ResetConnection] on tests that manage their own connections to a kit server. Each test makes the state it
/// needs itself: its [SetUp] (which NUnit runs before a method's action) leaves an idle session in a pool of
/// the fixture's own and proves a plain open hands it back; its [TearDown] (after the action) looks for the
/// session the test used. A reset closes every pooled connection of the process, so these run alone.
/// </summary>
[TestFixture(DbEngine.PostgreSql)]
[TestFixture(DbEngine.MySql)]
[NonParallelizable]
public sealed class ResetConnectionWithoutBaseTests(DbEngine engine)
{
    private DbServer? _server;
    private long _pooled;
    private (long Session, bool Gone)? _afterTheTest;

    private DbServer Server => _server ?? throw new InvalidOperationException("SetUp has not run");

    [SetUp]
    public async Task LeaveAnIdleSessionInThePool()
    {
        _afterTheTest = null;
        _server = await DbServer.SharedAsync(engine);
        _pooled = await SessionAsync();
        Assert.That(await SessionAsync(), Is.EqualTo(_pooled), "the pool should hand its idle session back");
    }

    [Test]
    public async Task Without_reset_the_pool_hands_back_the_session_it_holds() =>
        Assert.That(await SessionAsync(), Is.EqualTo(_pooled));

    [Test, ResetConnection]
    public async Task A_reset_test_starts_on_a_new_session_and_the_pooled_one_is_closed()
    {
        Assert.That(await SessionAsync(), Is.Not.EqualTo(_pooled));
        await ServerSessions.WaitGoneAsync(Server, _pooled);
    }

    [Test, ResetConnection(After = true)]
    public async Task Reset_after_closes_the_session_the_test_used() =>
        _afterTheTest = (await UsedAndPooledAsync(), Gone: true);

    [Test, ResetConnection]
    public async Task Without_reset_after_the_session_the_test_used_is_handed_back_after_it() =>
        _afterTheTest = (await UsedAndPooledAsync(), Gone: false);

    [TearDown]
    public async Task LookForTheSessionTheTestUsed()
    {
        if (_afterTheTest is not { } after)
        {
            return;
        }

        var next = await SessionAsync();
        if (after.Gone)
        {
            Assert.That(next, Is.Not.EqualTo(after.Session));
            await ServerSessions.WaitGoneAsync(Server, after.Session);
        }
        else
        {
            Assert.That(next, Is.EqualTo(after.Session));
        }
    }

    private async Task<long> UsedAndPooledAsync()
    {
        var used = await SessionAsync();
        Assert.That(await SessionAsync(), Is.EqualTo(used));
        return used;
    }

    private async Task<long> SessionAsync()
    {
        var cs = Server.Dialect.WithApplicationName(Server.AdminConnectionString, $"tdk-nunit-reset-{engine}");
        await using var connection = Server.CreateConnection(cs);
        await connection.OpenAsync();
        return await connection.SessionIdAsync(engine);
    }
}

/// <summary>
/// What the base-class tests below share. The base class resets in its [SetUp], before it opens the test's
/// connection, so the state a test needs is made before that (<see cref="BeforeSetUpAsync"/>): an idle session
/// in a pool of the fixture's own, proven to be handed back, and the list of every session on the server. A
/// reset closes that pooled session too (it closes every pool of the process), so a test reads it again to
/// see whether a reset ran before it.
/// </summary>
[AroundTheTest]
public abstract class ResetConnectionOnBaseFixture(DbEngine engine) : ResilientDbTestBase(engine), IAroundTheTest
{
    private DbServer? _server;
    private long _pooled;
    private HashSet<long> _before = [];

    protected (long Session, bool Gone)? AfterTheTest { get; set; }

    protected DbServer Server => _server ?? throw new InvalidOperationException("BeforeSetUpAsync has not run");

    public async Task BeforeSetUpAsync()
    {
        AfterTheTest = null;
        _server = await DbServer.SharedAsync(Engine);
        _pooled = await ProbeAsync();
        Assert.That(await ProbeAsync(), Is.EqualTo(_pooled), "the pool should hand its idle session back");
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
            Assert.That(await ServerSessions.ListAsync(Server), Does.Contain(after.Session), "the session should still be on the server, idle in its pool");
        }
    }

    /// <summary>Fails unless a reset closed every pool after the test was set up to start, and the test runs on
    /// a session that was not on the server then.</summary>
    protected async Task AssertRunsOnANewSessionAsync()
    {
        Assert.That(await ProbeAsync(), Is.Not.EqualTo(_pooled), "no reset closed the pools before the test");
        var session = await Connection.SessionIdAsync(Engine);
        Assert.That(_before, Does.Not.Contain(session), $"session {session} was on the server before the test");
        Assert.That(Convert.ToInt32(await Connection.ScalarAsync("SELECT 1")), Is.EqualTo(1));
    }

    /// <summary>Fails if a reset closed the pools before the test.</summary>
    protected async Task AssertNoResetRanAsync() =>
        Assert.That(await ProbeAsync(), Is.EqualTo(_pooled), "a reset closed the pools before the test");

    private async Task<long> ProbeAsync()
    {
        var cs = Server.Dialect.WithApplicationName(Server.AdminConnectionString, $"tdk-nunit-probe-{Engine}");
        await using var connection = Server.CreateConnection(cs);
        await connection.OpenAsync();
        return await connection.SessionIdAsync(Engine);
    }
}

/// <summary>[ResetConnection] on base-class tests, on the method.</summary>
[TestFixture(DbEngine.PostgreSql)]
[TestFixture(DbEngine.MySql)]
[NonParallelizable]
public sealed class ResetConnectionOnBaseTests(DbEngine engine) : ResetConnectionOnBaseFixture(engine)
{
    [Test]
    public Task Without_reset_no_pool_is_closed_before_the_test() => AssertNoResetRanAsync();

    [Test, ResetConnection]
    public Task A_reset_test_runs_on_a_session_that_did_not_exist_before_it() => AssertRunsOnANewSessionAsync();

    [Test, ResetConnection(After = true)]
    public async Task Reset_after_closes_the_session_the_test_ran_on()
    {
        await AssertRunsOnANewSessionAsync();
        AfterTheTest = (await Connection.SessionIdAsync(Engine), Gone: true);
    }

    [Test]
    public async Task Without_reset_after_the_session_a_test_ran_on_stays_on_the_server() =>
        AfterTheTest = (await Connection.SessionIdAsync(Engine), Gone: false);
}

/// <summary>[ResetConnection] on the fixture: every test of it runs on a brand-new session.</summary>
[TestFixture(DbEngine.PostgreSql)]
[TestFixture(DbEngine.MySql)]
[NonParallelizable]
[ResetConnection]
public sealed class ResetConnectionOnFixtureTests(DbEngine engine) : ResetConnectionOnBaseFixture(engine)
{
    [Test]
    public Task Every_test_runs_on_a_session_that_did_not_exist_before_it([Range(1, 2)] int run) => AssertRunsOnANewSessionAsync();
}
