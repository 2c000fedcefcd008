using System.Data.Common;

namespace TestDbKit.Engines;

/// <summary>The kit's one-statement helpers over any driver, and the open-or-dispose dance.</summary>
internal static class DbCommands
{
    public static async Task ExecuteAsync(this DbConnection connection, string sql, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    public static async Task<object?> ScalarAsync(this DbConnection connection, string sql, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return await command.ExecuteScalarAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The first column of every row <paramref name="sql"/> returns, read with <paramref name="read"/>.</summary>
    public static async Task<List<T>> ReadColumnAsync<T>(this DbConnection connection, string sql, Func<DbDataReader, T> read, CancellationToken ct)
    {
        var rows = new List<T>();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            rows.Add(read(reader));
        }

        return rows;
    }

    /// <summary>Opens a new connection; a connection that failed to open is disposed, not leaked.</summary>
    public static async Task<DbConnection> OpenAsync(this EngineDialect dialect, string connectionString, CancellationToken ct)
    {
        var connection = dialect.CreateConnection(connectionString);
        try
        {
            await connection.OpenAsync(ct).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
