using TestDbKit;
using TestDbKit.Xunit;

namespace Suite;

/// <summary>The kit's base class as its README shows it: the schema once, a database and a connection per test.</summary>
public abstract class SuiteBase() : ResilientDbTestBase(SuiteEnv.PostgreSql ? DbEngine.PostgreSql : DbEngine.MySql)
{
    private DbTransaction? _transaction;

    protected override async Task CreateSchemaAsync(DbConnection connection)
    {
        foreach (var statement in Schema.Statements(SuiteEnv.PostgreSql))
        {
            await Sql.ExecAsync(connection, null, statement);
        }
    }

    protected async Task BeginAsync() => _transaction = await Connection.BeginTransactionAsync();

    protected Task ExecAsync(string sql) => Sql.ExecAsync(Connection, _transaction, sql);

    protected Task<long> CountAsync(string sql) => Sql.CountAsync(Connection, _transaction, sql);
}
