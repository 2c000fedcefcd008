using System.Data.Common;
using TestDbKit.Tests.Common;
using TestDbKit.Xunit;

#if XUNIT_V3
[assembly: Xunit.v3.Parallelization(MaxThreads = 8)]
#else
[assembly: CollectionBehavior(MaxParallelThreads = 8)]
#endif

namespace TestDbKit.Xunit.Tests;

/// <summary>
/// Every test first proves it got a healthy connection and an empty database, then breaks its connection
/// in one of the ways production does. Tests of a class run one after another, so each proves that the
/// breakage of the one before did not leak into it; eight classes run at once on a thread pool.
/// </summary>
public abstract class RecoveryTests(DbEngine engine) : ResilientDbTestBase(engine)
{
    protected override Task CreateSchemaAsync(DbConnection connection) => Health.CreateItemsAsync(connection, Engine);

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    public async Task Starts_healthy_whatever_the_test_before_broke(int how)
    {
        await Health.AssertHealthyAsync(Connection);
        await Connection.ScalarAsync($"INSERT INTO items (tag) VALUES ('mine{how}')");
        await Health.BreakAsync(how, Engine, Connection, Database);
    }
}

public sealed class PostgresRecovery1() : RecoveryTests(DbEngine.PostgreSql);
public sealed class PostgresRecovery2() : RecoveryTests(DbEngine.PostgreSql);
public sealed class PostgresRecovery3() : RecoveryTests(DbEngine.PostgreSql);
public sealed class PostgresRecovery4() : RecoveryTests(DbEngine.PostgreSql);
public sealed class MySqlRecovery1() : RecoveryTests(DbEngine.MySql);
public sealed class MySqlRecovery2() : RecoveryTests(DbEngine.MySql);
public sealed class MySqlRecovery3() : RecoveryTests(DbEngine.MySql);
public sealed class MySqlRecovery4() : RecoveryTests(DbEngine.MySql);
