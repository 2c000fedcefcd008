using TestDbKit.Xunit;

namespace TestDbKit.Xunit.Tests
{
    /// <summary>The base class builds the schema with the <c>CreateSchemaAsync(SchemaTarget, CancellationToken)</c> a
    /// class overrides: its table and seed row (the name of the database it was built in) are in the test's database.
    /// On PostgreSQL that database is a copy of the template the hook built; on MySQL the hook built it.</summary>
    public abstract class SchemaTargetHookTests(DbEngine engine) : ResilientDbTestBase(engine)
    {
        protected override async Task CreateSchemaAsync(SchemaTarget target, CancellationToken ct)
        {
            Assert.Equal(Engine, target.Engine);
            await using var connection = await target.OpenConnectionAsync(ct);
            await using var command = connection.CreateCommand();
            command.CommandText = $"CREATE TABLE hooked (built_in varchar(100) NOT NULL); INSERT INTO hooked VALUES ('{target.Name}')";
            await command.ExecuteNonQueryAsync(ct);
        }

        [Fact]
        public void The_schema_comes_from_the_SchemaTarget_override()
        {
            using var command = Connection.CreateCommand();
            command.CommandText = "SELECT built_in FROM hooked";
            var builtIn = (string?)command.ExecuteScalar(); // synchronous: one source for xunit v2 and v3 (v3 wants its token on async calls)
            Assert.StartsWith("tdk_", builtIn, StringComparison.Ordinal);
            Assert.Equal(Engine == DbEngine.MySql, builtIn == Database.Name); // PostgreSQL: the template it was copied from
        }
    }

    public sealed class PostgresSchemaTargetHookTests() : SchemaTargetHookTests(DbEngine.PostgreSql);

    public sealed class MySqlSchemaTargetHookTests() : SchemaTargetHookTests(DbEngine.MySql);
}
