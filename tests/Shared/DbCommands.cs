using System.Data.Common;

namespace TestDbKit.Tests.Common;

/// <summary>The one copy of the small command helpers every test project uses (linked from tests/Shared).</summary>
public static class DbCommands
{
    /// <summary>Opens a new connection of <paramref name="server"/>'s engine on <paramref name="connectionString"/>;
    /// when opening fails the connection is disposed and the error rethrown.</summary>
    public static async Task<DbConnection> OpenConnectionAsync(this DbServer server, string connectionString)
    {
        var connection = server.CreateConnection(connectionString);
        try
        {
            await connection.OpenAsync();
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>Runs <paramref name="sql"/> and returns the first column of its first row.</summary>
    public static async Task<object?> ScalarAsync(this DbConnection connection, string sql, DbTransaction? transaction = null)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return await command.ExecuteScalarAsync();
    }

    /// <summary>Runs <paramref name="sql"/> and returns the rows it affected.</summary>
    public static async Task<int> ExecuteAsync(this DbConnection connection, string sql, DbTransaction? transaction = null)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return await command.ExecuteNonQueryAsync();
    }

    /// <summary>The server's id of the session behind a connection.</summary>
    public static async Task<long> SessionIdAsync(this DbConnection connection, DbEngine engine) =>
        Convert.ToInt64(await connection.ScalarAsync(engine == DbEngine.PostgreSql ? "SELECT pg_backend_pid()" : "SELECT CONNECTION_ID()"));

    /// <summary>The first column of every row of <paramref name="sql"/>, as numbers.</summary>
    public static async Task<List<long>> IdsAsync(this DbConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var ids = new List<long>();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters.Where(p => p.Value is not null))
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value;
            command.Parameters.Add(parameter);
        }

        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            ids.Add(Convert.ToInt64(reader.GetValue(0)));
        }

        return ids;
    }
}
