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
            await using var command = connection.CreateCommand();
            command.CommandText = statement;
            await command.ExecuteNonQueryAsync();
        }
    }

    protected async Task BeginAsync() => _transaction = await Connection.BeginTransactionAsync();

    protected async Task ExecAsync(string sql)
    {
        await using var command = Connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = _transaction;
        await command.ExecuteNonQueryAsync();
    }

    protected async Task<long> CountAsync(string sql)
    {
        await using var command = Connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = _transaction;
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
