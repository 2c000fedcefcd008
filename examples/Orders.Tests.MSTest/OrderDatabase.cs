using System.Data.Common;
using Orders.Tests;
using TestDbKit;
using TestDbKit.MSTest;

// Every test may run beside every other; each still gets a database and a connection of its own.
[assembly: Parallelize(Scope = ExecutionScope.MethodLevel)]

namespace Orders.Tests.MSTest;

/// <summary>
/// The orders schema on a database of the test's own, from the kit: every test starts with an empty
/// database and a healthy connection, whatever the test before it broke.
/// </summary>
public abstract class OrderDatabase(DbEngine engine) : ResilientDbTestBase(engine)
{
    /// <summary>The application's connection settings for this test's database.</summary>
    protected OrderDatabaseSettings Settings => OrderWorkload.Settings(Database);

    /// <summary>The repository under test on this test's database.</summary>
    protected OrderRepository Orders => new(Settings);

    protected override Task CreateSchemaAsync(DbConnection connection) => OrderWorkload.CreateSchemaAsync(connection);
}
