using System.Data.Common;
using System.Globalization;
using TestDbKit;

namespace Orders.Tests;

/// <summary>The few raw statements the suites run next to the repository, to look at the server itself.</summary>
public static class Sql
{
    /// <summary>Runs <paramref name="sql"/> and returns the first column of the first row.</summary>
    public static async Task<object?> ScalarAsync(this DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync();
    }

    /// <summary>Runs <paramref name="sql"/>, in <paramref name="transaction"/> when given.</summary>
    public static async Task ExecuteAsync(this DbConnection connection, string sql, DbTransaction? transaction = null)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>The id of the server session behind <paramref name="connection"/>.</summary>
    public static async Task<long> SessionIdAsync(this DbConnection connection, DbEngine engine) =>
        Convert.ToInt64(await connection.ScalarAsync(engine == DbEngine.PostgreSql ? "SELECT pg_backend_pid()" : "SELECT CONNECTION_ID()"), CultureInfo.InvariantCulture);

    /// <summary>The ids of every session on <paramref name="server"/> right now, or only of those on
    /// <paramref name="database"/>.</summary>
    public static async Task<HashSet<long>> SessionsAsync(this DbServer server, string? database = null)
    {
        await using var admin = await server.OpenAdminConnectionAsync();
        await using var command = admin.CreateCommand();
        var postgres = server.Engine == DbEngine.PostgreSql;
        command.CommandText = (postgres ? "SELECT pid FROM pg_stat_activity" : "SELECT ID FROM information_schema.PROCESSLIST")
            + (database is null ? "" : postgres ? " WHERE datname = @database" : " WHERE DB = @database");
        var parameter = command.CreateParameter();
        parameter.ParameterName = "@database";
        parameter.Value = database ?? "";
        command.Parameters.Add(parameter);
        await using var reader = await command.ExecuteReaderAsync();
        var sessions = new HashSet<long>();
        while (await reader.ReadAsync())
        {
            sessions.Add(Convert.ToInt64(reader.GetValue(0), CultureInfo.InvariantCulture));
        }

        return sessions;
    }
}
