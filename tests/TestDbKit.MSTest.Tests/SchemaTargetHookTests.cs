using TestDbKit.MSTest;

namespace TestDbKit.MSTest.Tests
{
    /// <summary>The base class builds the schema with the <c>CreateSchemaAsync(SchemaTarget, CancellationToken)</c> a
    /// class overrides: its table and seed row (the name of the database it was built in) are in the test's database.
    /// On PostgreSQL that database is a copy of the template the hook built; on MySQL the hook built it.</summary>
    public abstract class SchemaTargetHookTests(DbEngine engine) : ResilientDbTestBase(engine)
    {
        protected override async Task CreateSchemaAsync(SchemaTarget target, CancellationToken ct)
        {
            Assert.AreEqual(Engine, target.Engine);
            await using var connection = await target.OpenConnectionAsync(ct);
            await using var command = connection.CreateCommand();
            command.CommandText = $"CREATE TABLE hooked (built_in varchar(100) NOT NULL); INSERT INTO hooked VALUES ('{target.Name}')";
            await command.ExecuteNonQueryAsync(ct);
        }

        [TestMethod]
        public async Task The_schema_comes_from_the_SchemaTarget_override()
        {
            await using var command = Connection.CreateCommand();
            command.CommandText = "SELECT built_in FROM hooked";
            var builtIn = (string?)await command.ExecuteScalarAsync();
            Assert.IsNotNull(builtIn);
            Assert.StartsWith("tdk_", builtIn);
            Assert.AreEqual(Engine == DbEngine.MySql, builtIn == Database.Name); // PostgreSQL: the template it was copied from
        }
    }

    [TestClass]
    public sealed class PostgreSqlSchemaTargetHookTests() : SchemaTargetHookTests(DbEngine.PostgreSql);

    [TestClass]
    public sealed class MySqlSchemaTargetHookTests() : SchemaTargetHookTests(DbEngine.MySql);
}
