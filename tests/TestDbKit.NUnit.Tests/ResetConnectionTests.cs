using TestDbKit.NUnit;
using TestDbKit.Tests.Common;

namespace TestDbKit.NUnit.Tests;

/// <summary>[ResetConnection] on tests that manage their own connections to a kit server. A reset closes
/// every pooled connection of the process, so these run alone and in order.</summary>
[TestFixture(DbEngine.PostgreSql)]
[TestFixture(DbEngine.MySql)]
[NonParallelizable]
public sealed class ResetConnectionWithoutBaseTests(DbEngine engine)
{
    private long _first;
    private long _reset;

    [Test, Order(1)]
    public async Task An_ordinary_test_leaves_its_session_in_the_pool() => _first = await SessionAsync();

    [Test, Order(2), ResetConnection]
    public async Task A_reset_test_starts_on_a_new_session()
    {
        _reset = await SessionAsync();
        Assert.That(_reset, Is.Not.EqualTo(_first));
    }

    [Test, Order(3)]
    public async Task Without_reset_the_pool_hands_back_the_same_session() =>
        Assert.That(await SessionAsync(), Is.EqualTo(_reset)); // shows the reset test would fail without the reset

    private async Task<long> SessionAsync()
    {
        var server = await DbServer.SharedAsync(engine);
        var cs = server.Dialect.WithApplicationName(server.AdminConnectionString, $"tdk-nunit-reset-{engine}");
        await using var connection = server.CreateConnection(cs);
        await connection.OpenAsync();
        return await connection.SessionIdAsync(engine);
    }
}

/// <summary>[ResetConnection] on base-class tests, on the method and on the fixture.</summary>
[TestFixture(DbEngine.PostgreSql)]
[TestFixture(DbEngine.MySql)]
[NonParallelizable]
public sealed class ResetConnectionOnBaseTests(DbEngine engine) : ResilientDbTestBase(engine)
{
    private long _previous;

    [Test, Order(1)]
    public async Task An_ordinary_test() => _previous = await Connection.SessionIdAsync(Engine);

    [Test, Order(2), ResetConnection(After = true)]
    public async Task A_reset_test_gets_a_session_other_than_the_one_before()
    {
        Assert.That(await Connection.SessionIdAsync(Engine), Is.Not.EqualTo(_previous));
        Assert.That(Convert.ToInt32(await Connection.ScalarAsync("SELECT 1")), Is.EqualTo(1));
    }
}

[TestFixture(DbEngine.PostgreSql)]
[TestFixture(DbEngine.MySql)]
[NonParallelizable]
[ResetConnection]
public sealed class ResetConnectionOnFixtureTests(DbEngine engine) : ResilientDbTestBase(engine)
{
    private static readonly HashSet<long> Seen = [];

    [Test]
    public async Task Every_test_gets_a_session_no_earlier_test_had([Range(0, 3)] int run)
    {
        var id = await Connection.SessionIdAsync(Engine);
        Assert.That(Seen.Add(id * 10 + (int)Engine), Is.True, $"run {run}: session {id} was used before");
    }
}
