using System.Data.Common;
using TestDbKit.Tests.Common;

namespace TestDbKit.MSTest.Tests;

/// <summary>Issue 14's done-when test, faulted side: a 1 s wait_timeout for this class's database on the shared
/// MySQL server, while <see cref="MySqlIdleTimeoutNeighbour"/> runs beside it (method-level parallelism). No [DedicatedServer].</summary>
[TestClass]
public sealed class MySqlIdleTimeoutFaulted() : ResilientDbTestBase(DbEngine.MySql)
{
    [TestMethod]
    public Task Its_idle_connections_are_dropped_after_a_1_s_wait_timeout_and_classified_as_lost() =>
        DatabaseSettingChecks.IdleTimeoutDropsThisClassesIdleConnectionsAsync(Engine, () => Connection, Database);
}

/// <summary>Issue 14's done-when test, neighbour side: idle connections on the same shared server live on.</summary>
[TestClass]
public sealed class MySqlIdleTimeoutNeighbour() : ResilientDbTestBase(DbEngine.MySql)
{
    [TestMethod]
    public Task Its_idle_connections_live_on_beside_a_database_with_a_1_s_wait_timeout() =>
        DatabaseSettingChecks.IdleConnectionsOfANeighbourLiveOnAsync(Engine, () => Connection, Database);
}

/// <summary>Faults act on the connection the test is about to use. The [ResetConnection] test clears every pool of
/// the process, so the class runs alone.</summary>
public abstract class FaultsReachTheConnectionTests(DbEngine engine) : ResilientDbTestBase(engine)
{
    protected override Task CreateSchemaAsync(DbConnection connection) => Health.CreateItemsAsync(connection, Engine);

    [TestMethod, ResetConnection]
    public Task A_kill_right_at_the_start_of_a_reset_test_reaches_Connection() =>
        DatabaseSettingChecks.KillAtTheStartReachesTheConnectionAsync(Engine, () => Connection, Database);

    [TestMethod]
    public Task Setting_faults_reach_the_open_Connection_and_leave_it_on_undo() =>
        DatabaseSettingChecks.SettingsReachTheOpenConnectionAsync(Engine, () => Connection, Database);
}

[TestClass, DoNotParallelize]
public sealed class PostgreSqlFaultsReachTheConnectionTests() : FaultsReachTheConnectionTests(DbEngine.PostgreSql);

[TestClass, DoNotParallelize]
public sealed class MySqlFaultsReachTheConnectionTests() : FaultsReachTheConnectionTests(DbEngine.MySql);
