using System.Data.Common;
using TestDbKit;
using TestDbKit.Xunit;

namespace Orders.Tests.Xunit;

/// <summary>
/// The orders schema on a database of the test's own, from the kit: every test starts with an empty
/// database and a healthy connection, whatever the test before it broke.
/// </summary>
public abstract class OrderDatabase(DbEngine engine) : ResilientDbTestBase(engine)
{
    /// <summary>The repository under test, on this test's database.</summary>
    protected OrderRepository Orders => new(() => Database.Server.CreateConnection(Database.ConnectionString));

    protected override async Task CreateSchemaAsync(DbConnection connection)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = OrderRepository.Schema;
        await command.ExecuteNonQueryAsync();
    }
}
