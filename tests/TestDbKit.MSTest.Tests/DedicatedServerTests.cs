using System.Data.Common;
using TestDbKit.Tests.Common;

namespace TestDbKit.MSTest.Tests;

/// <summary>
/// [DedicatedServer] gives each engine's class a server of its own, so server-wide faults work from Faults. The
/// class's own tests run one at a time ([DoNotParallelize]), each starting healthy after the fault before it.
/// </summary>
public abstract class DedicatedServerTests(DbEngine engine) : ResilientDbTestBase(engine)
{
    protected override Task CreateSchemaAsync(DbConnection connection) => Health.CreateItemsAsync(connection, Engine);

    [TestMethod, DataRow(false), DataRow(true)]
    public async Task A_fault_of_the_servers_own_is_survived(bool restart)
    {
        await Health.AssertHealthyAsync(Connection);
        await ServerFaults.CrashOrRestartAsync(restart, Engine, Connection, Database);
    }

    [TestMethod]
    public async Task Read_only_refuses_writes_as_after_a_failover()
    {
        await Health.AssertHealthyAsync(Connection);
        await ServerFaults.ReadOnlyAsync(Engine, Database);
    }
}

[TestClass, DedicatedServer, DoNotParallelize]
public sealed class PostgreSqlDedicatedServerTests() : DedicatedServerTests(DbEngine.PostgreSql);

[TestClass, DedicatedServer, DoNotParallelize]
public sealed class MySqlDedicatedServerTests() : DedicatedServerTests(DbEngine.MySql);

/// <summary>Without the attribute the server is the shared one, and server-wide faults say how to get one's own.</summary>
[TestClass]
public sealed class SharedServerRefusalTests() : ResilientDbTestBase(DbEngine.PostgreSql)
{
    [TestMethod]
    public Task A_restart_of_the_shared_server_is_refused_with_advice() => ServerFaults.RefusedOnTheSharedServerAsync(Database);
}
