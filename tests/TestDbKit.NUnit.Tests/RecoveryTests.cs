using System.Collections.Concurrent;
using System.Data.Common;
using TestDbKit.NUnit;
using TestDbKit.Tests.Common;

[assembly: LevelOfParallelism(8)]

namespace TestDbKit.NUnit.Tests;

/// <summary>
/// One fixture instance per engine whose tests all run at the same time: each must see its own
/// Connection (never one another test is using), start healthy, and then break it as production would.
/// </summary>
[TestFixture(DbEngine.PostgreSql)]
[TestFixture(DbEngine.MySql)]
[Parallelizable(ParallelScope.All)]
public sealed class RecoveryTests(DbEngine engine) : ResilientDbTestBase(engine)
{
    private static readonly ConcurrentDictionary<(DbEngine, long), string> InUse = new();

    protected override Task CreateSchemaAsync(DbConnection connection) => Health.CreateItemsAsync(connection, Engine);

    [Test]
    public async Task Each_parallel_test_starts_healthy_on_its_own_connection([Range(0, 19)] int how)
    {
        await Health.AssertHealthyAsync(Connection);
        var session = await Connection.SessionIdAsync(Engine);
        var me = TestContext.CurrentContext.Test.Name;
        Assert.That(InUse.TryAdd((Engine, session), me), Is.True, $"session {session} is in use by {InUse.GetValueOrDefault((Engine, session))} too");
        try
        {
            await Connection.ScalarAsync($"INSERT INTO items (tag) VALUES ('mine{how}')");
            await Task.Yield();
            Assert.That(Convert.ToInt64(await Connection.ScalarAsync("SELECT COUNT(*) FROM items")), Is.EqualTo(1));
        }
        finally
        {
            InUse.TryRemove((Engine, session), out _);
        }

        await Health.BreakAsync(how, Engine, Connection, Database);
    }
}

/// <summary>The same with a new fixture instance per test case.</summary>
[TestFixture(DbEngine.PostgreSql)]
[TestFixture(DbEngine.MySql)]
[Parallelizable(ParallelScope.All)]
[FixtureLifeCycle(LifeCycle.InstancePerTestCase)]
public sealed class InstancePerTestCaseRecoveryTests(DbEngine engine) : ResilientDbTestBase(engine)
{
    protected override Task CreateSchemaAsync(DbConnection connection) => Health.CreateItemsAsync(connection, Engine);

    [Test]
    public async Task Starts_healthy_whatever_another_test_broke([Range(0, 9)] int how)
    {
        await Health.AssertHealthyAsync(Connection);
        await Connection.ScalarAsync($"INSERT INTO items (tag) VALUES ('mine{how}')");
        await Health.BreakAsync(how, Engine, Connection, Database);
    }
}
