using TestDbKit.NUnit;

namespace TestDbKit.NUnit.Tests
{
    /// <summary>The base class builds the schema with the <c>CreateSchemaAsync(SchemaTarget, CancellationToken)</c> a
    /// fixture overrides: its table and seed row (the name of the database it was built in) are in the test's database.
    /// On PostgreSQL that database is a copy of the template the hook built; on MySQL the hook built it.</summary>
    [TestFixture(DbEngine.PostgreSql)]
    [TestFixture(DbEngine.MySql)]
    public sealed class SchemaTargetHookTests(DbEngine engine) : ResilientDbTestBase(engine)
    {
        protected override async Task CreateSchemaAsync(SchemaTarget target, CancellationToken ct)
        {
            Assert.That(target.Engine, Is.EqualTo(Engine));
            await using var connection = await target.OpenConnectionAsync(ct);
            await using var command = connection.CreateCommand();
            command.CommandText = $"CREATE TABLE hooked (built_in varchar(100) NOT NULL); INSERT INTO hooked VALUES ('{target.Name}')";
            await command.ExecuteNonQueryAsync(ct);
        }

        [Test]
        public async Task The_schema_comes_from_the_SchemaTarget_override()
        {
            await using var command = Connection.CreateCommand();
            command.CommandText = "SELECT built_in FROM hooked";
            var builtIn = (string?)await command.ExecuteScalarAsync();
            Assert.That(builtIn, Does.StartWith("tdk_"));
            Assert.That(builtIn == Database.Name, Is.EqualTo(Engine == DbEngine.MySql)); // PostgreSQL: the template it was copied from
        }
    }
}
