using TestDbKit.Tests.Common;
using TestDbKit.Xunit;

namespace TestDbKit.Xunit.Tests;

/// <summary>A reset closes every pooled connection of the process, and the tests here compare sessions a pool
/// hands back: they run alone, so no reset of a test beside them closes a pool under their feet.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ResetTests
{
    public const string Name = "Reset connection";
}

/// <summary>
/// [ResetConnection] on tests that manage their own connections to a kit server. Each test makes the state it
/// needs itself: before xunit's Before hooks run (<see cref="InitializeAsync"/>), a pool of the class's own
/// holds an idle session that a plain open hands back; after the After hooks (<see cref="DisposeAsync"/>), the
/// session the test used is looked for again.
/// </summary>
[Collection(ResetTests.Name)]
public abstract class ResetConnectionWithoutBaseTests(DbEngine engine) : IAsyncLifetime
{
    // A pool of this class's own (its application name): nobody else takes or adds its sessions.
    private readonly string _tag = $"tdk-reset-{engine}";
    private DbServer? _server;
    private long _pooled;
    private (long Session, bool Gone)? _afterTheTest;

    private DbServer Server => _server ?? throw new InvalidOperationException("InitializeAsync has not run");

#if XUNIT_V3
    public async ValueTask InitializeAsync()
#else
    public async Task InitializeAsync()
#endif
    {
        _server = await DbServer.SharedAsync(engine);
        _pooled = await SessionAsync();
        // The premise of every test here: the pool hands the idle session back on the next open.
        Assert.Equal(_pooled, await SessionAsync());
    }

    [Fact]
    public async Task Without_reset_the_pool_hands_back_the_session_it_holds() =>
        Assert.Equal(_pooled, await SessionAsync());

    [Fact, ResetConnection]
    public async Task A_reset_test_starts_on_a_new_session_and_the_pooled_one_is_closed()
    {
        Assert.NotEqual(_pooled, await SessionAsync());
        await ServerSessions.WaitGoneAsync(Server, _pooled);
    }

    [Fact, ResetConnection(After = true)]
    public async Task Reset_after_closes_the_session_the_test_used() =>
        _afterTheTest = (await UsedAndPooledAsync(), Gone: true);

    [Fact, ResetConnection]
    public async Task Without_reset_after_the_session_the_test_used_is_handed_back_after_it() =>
        _afterTheTest = (await UsedAndPooledAsync(), Gone: false);

    /// <summary>Runs after xunit's After hooks: the session the test left in the pool is gone, or handed back.</summary>
#if XUNIT_V3
    public async ValueTask DisposeAsync()
    {
        GC.SuppressFinalize(this);
#else
    public async Task DisposeAsync()
    {
#endif
        if (_afterTheTest is not { } after)
        {
            return;
        }

        var next = await SessionAsync();
        if (after.Gone)
        {
            Assert.NotEqual(after.Session, next);
            await ServerSessions.WaitGoneAsync(Server, after.Session);
        }
        else
        {
            Assert.Equal(after.Session, next);
        }
    }

    /// <summary>A session the test used and left idle in the pool, proven to be handed back during the test.</summary>
    private async Task<long> UsedAndPooledAsync()
    {
        var used = await SessionAsync();
        Assert.Equal(used, await SessionAsync());
        return used;
    }

    private async Task<long> SessionAsync()
    {
        var cs = Server.Dialect.WithApplicationName(Server.AdminConnectionString, _tag);
        await using var connection = Server.CreateConnection(cs);
        await connection.OpenAsync();
        return await connection.SessionIdAsync(engine);
    }
}

public sealed class PostgresResetWithoutBase() : ResetConnectionWithoutBaseTests(DbEngine.PostgreSql);
public sealed class MySqlResetWithoutBase() : ResetConnectionWithoutBaseTests(DbEngine.MySql);

/// <summary>
/// [ResetConnection] on base-class tests. The base opens the test's connection in InitializeAsync, before xunit's
/// Before hooks: so before a test first touches <c>Connection</c>, that session is on the server, on the test's
/// database; it is the one the test runs on unless a reset ran, which replaces it on first use.
/// </summary>
[Collection(ResetTests.Name)]
public abstract class ResetConnectionOnBaseTests(DbEngine engine) : ResilientDbTestBase(engine), IDisposable
{
    private (DbServer Server, long Session, bool Gone)? _afterTheTest;

    [Fact]
    public async Task Without_reset_a_test_runs_on_the_session_opened_before_it()
    {
        var before = await ServerSessions.ListAsync(Database.Server, Database.Name);
        Assert.Contains(await Connection.SessionIdAsync(Engine), before);
    }

    [Fact, ResetConnection]
    public async Task A_reset_test_runs_on_a_session_that_did_not_exist_before_it()
    {
        var before = await ServerSessions.ListAsync(Database.Server, Database.Name);
        Assert.NotEmpty(before); // the session opened for the test, which it runs on without the reset
        Assert.DoesNotContain(await Connection.SessionIdAsync(Engine), before);
        Assert.Equal(1, Convert.ToInt32(await Connection.ScalarAsync("SELECT 1")));
    }

    [Fact, ResetConnection(After = true)]
    public async Task Reset_after_closes_the_session_the_test_ran_on() =>
        _afterTheTest = (Database.Server, await Connection.SessionIdAsync(Engine), Gone: true);

    [Fact]
    public async Task Without_reset_after_the_session_a_test_ran_on_stays_on_the_server() =>
        _afterTheTest = (Database.Server, await Connection.SessionIdAsync(Engine), Gone: false);

    /// <summary>xunit runs this after the After hooks and after the base class gave the connection back
    /// (its IAsyncLifetime.DisposeAsync); xunit v2 has no asynchronous hook there, so it waits here.</summary>
    public void Dispose()
    {
        GC.SuppressFinalize(this);
        if (_afterTheTest is not { } after)
        {
            return;
        }

        Task.Run(async () =>
        {
            if (after.Gone)
            {
                await ServerSessions.WaitGoneAsync(after.Server, after.Session);
            }
            else
            {
                Assert.Contains(after.Session, await ServerSessions.ListAsync(after.Server));
            }
        }).GetAwaiter().GetResult();
    }
}

public sealed class PostgresResetOnBase() : ResetConnectionOnBaseTests(DbEngine.PostgreSql);
public sealed class MySqlResetOnBase() : ResetConnectionOnBaseTests(DbEngine.MySql);

/// <summary>[ResetConnection] on the class: every test of it runs on a brand-new session.</summary>
[Collection(ResetTests.Name)]
[ResetConnection]
public abstract class ResetConnectionOnClassTests(DbEngine engine) : ResilientDbTestBase(engine)
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public async Task Every_test_of_the_class_runs_on_a_session_that_did_not_exist_before_it(int run)
    {
        var before = await ServerSessions.ListAsync(Database.Server, Database.Name);
        Assert.NotEmpty(before); // the session opened for the test, which it runs on without the reset
        var session = await Connection.SessionIdAsync(Engine);
        Assert.False(before.Contains(session), $"run {run}: session {session} existed before the test");
    }
}

public sealed class PostgresResetOnClass() : ResetConnectionOnClassTests(DbEngine.PostgreSql);
public sealed class MySqlResetOnClass() : ResetConnectionOnClassTests(DbEngine.MySql);
