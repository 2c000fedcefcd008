using System.Data.Common;
using TestDbKit.NUnit;
using TestDbKit.Tests.Common;

namespace TestDbKit.NUnit.Tests;

/// <summary>
/// [DedicatedServer] gives each engine's fixture a server of its own, so server-wide faults work from
/// Faults. The fixture runs beside the recovery fixtures on the shared server; its own tests run one at a
/// time, each starting healthy after the fault before it.
/// </summary>
[TestFixture(DbEngine.PostgreSql)]
[TestFixture(DbEngine.MySql)]
[DedicatedServer]
[Parallelizable(ParallelScope.Self)]
public sealed class DedicatedServerTests(DbEngine engine) : ResilientDbTestBase(engine)
{
    protected override Task CreateSchemaAsync(DbConnection connection) => Health.CreateItemsAsync(connection, Engine);

    [Test]
    public async Task A_fault_of_the_servers_own_is_survived([Values] bool restart)
    {
        await Health.AssertHealthyAsync(Connection);
        await ServerFaults.CrashOrRestartAsync(restart, Engine, Connection, Database);
    }

    [Test]
    public async Task Read_only_refuses_writes_as_after_a_failover()
    {
        await Health.AssertHealthyAsync(Connection);
        await ServerFaults.ReadOnlyAsync(Engine, Database);
    }
}

/// <summary>Without the attribute the server is the shared one, and server-wide faults say how to get one's own.</summary>
[Parallelizable(ParallelScope.Self)]
public sealed class SharedServerRefusalTests() : ResilientDbTestBase(DbEngine.PostgreSql)
{
    [Test]
    public Task A_restart_of_the_shared_server_is_refused_with_advice() => ServerFaults.RefusedOnTheSharedServerAsync(Database);
}
