using System.Collections.Concurrent;
using System.Data.Common;
using TestDbKit.Tests.Common;

namespace TestDbKit.MSTest.Tests;

/// <summary>
/// Twenty tests per engine, run at the same time ([assembly: Parallelize(Scope = MethodLevel)]): each must see its
/// own Connection (never one another test is using) and database, start healthy, and then break it as production
/// would. MSTest makes an instance per test; <see cref="Each_test_has_an_instance_of_its_own"/> proves it, since
/// the base class keeps the test's session in the instance.
/// </summary>
public abstract class RecoveryTests(DbEngine engine) : ResilientDbTestBase(engine)
{
    private static readonly ConcurrentDictionary<(DbEngine, long), string> InUse = new();
    private static readonly ConcurrentDictionary<(DbEngine, string), string> DatabasesInUse = new();
    private static readonly ConcurrentDictionary<RecoveryTests, string> Instances = new(ReferenceEqualityComparer.Instance);

    public static IEnumerable<int> Ways => Enumerable.Range(0, 20);

    protected override Task CreateSchemaAsync(DbConnection connection) => Health.CreateItemsAsync(connection, Engine);

    [TestMethod]
    [DynamicData(nameof(Ways))]
    public async Task Each_parallel_test_starts_healthy_on_its_own_connection(int how)
    {
        await Health.AssertHealthyAsync(Connection);
        var session = await Connection.SessionIdAsync(Engine);
        var me = TestContext.TestDisplayName ?? TestContext.TestName ?? "";
        Assert.IsTrue(InUse.TryAdd((Engine, session), me), $"session {session} is in use by {InUse.GetValueOrDefault((Engine, session))} too");
        Assert.IsTrue(DatabasesInUse.TryAdd((Engine, Database.Name), me), $"database {Database.Name} is in use by {DatabasesInUse.GetValueOrDefault((Engine, Database.Name))} too");
        try
        {
            await Connection.ScalarAsync($"INSERT INTO items (tag) VALUES ('mine{how}')");
            await Task.Yield();
            Assert.AreEqual(1L, Convert.ToInt64(await Connection.ScalarAsync("SELECT COUNT(*) FROM items")));
        }
        finally
        {
            InUse.TryRemove((Engine, session), out _);
            DatabasesInUse.TryRemove((Engine, Database.Name), out _);
        }

        await Health.BreakAsync(how, Engine, Connection, Database);
    }

    [TestMethod]
    [DynamicData(nameof(Ways))]
    public void Each_test_has_an_instance_of_its_own(int how) =>
        Assert.IsTrue(Instances.TryAdd(this, $"{how}"), $"test {how} runs on the instance test {Instances.GetValueOrDefault(this)} ran on");
}

[TestClass]
public sealed class PostgreSqlRecoveryTests() : RecoveryTests(DbEngine.PostgreSql);

[TestClass]
public sealed class MySqlRecoveryTests() : RecoveryTests(DbEngine.MySql);
