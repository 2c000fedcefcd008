using System.Data.Common;
using TestDbKit.Tests.Common;
using TestDbKit.Xunit;

namespace TestDbKit.Xunit.Tests;

/// <summary>
/// [DedicatedServer] gives each of these classes a server of its own, so server-wide faults work from
/// Faults; the tests of a class run one after another, each starting healthy after the fault before it.
/// The recovery classes run beside them on the shared server, which the faults must not touch.
/// </summary>
[DedicatedServer]
public abstract class DedicatedServerTests(DbEngine engine) : ResilientDbTestBase(engine)
{
    protected override Task CreateSchemaAsync(DbConnection connection) => Health.CreateItemsAsync(connection, Engine);

    [Fact]
    public async Task A_crash_loses_the_connection_keeps_committed_rows_and_spares_the_shared_server()
    {
        await Health.AssertHealthyAsync(Connection);
        await ServerFaults.CrashOrRestartAsync(restart: false, Engine, Connection, Database);
    }

    [Fact]
    public async Task A_restart_loses_the_connection_keeps_committed_rows_and_spares_the_shared_server()
    {
        await Health.AssertHealthyAsync(Connection);
        await ServerFaults.CrashOrRestartAsync(restart: true, Engine, Connection, Database);
    }

    [Fact]
    public async Task Read_only_refuses_writes_as_after_a_failover()
    {
        await Health.AssertHealthyAsync(Connection);
        await ServerFaults.ReadOnlyAsync(Engine, Database);
    }
}

public sealed class PostgresDedicatedServer() : DedicatedServerTests(DbEngine.PostgreSql);

public sealed class MySqlDedicatedServer() : DedicatedServerTests(DbEngine.MySql);

/// <summary>Without the attribute the server is the shared one, and server-wide faults say how to get one's own.</summary>
public sealed class SharedServerRefusal() : ResilientDbTestBase(DbEngine.MySql)
{
    [Fact]
    public Task A_restart_of_the_shared_server_is_refused_with_advice() => ServerFaults.RefusedOnTheSharedServerAsync(Database);
}
