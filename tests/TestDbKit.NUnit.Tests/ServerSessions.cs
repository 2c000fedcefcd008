using System.Data.Common;
using System.Diagnostics;
using TestDbKit.Tests.Common;

namespace TestDbKit.NUnit.Tests;

/// <summary>What the server itself says about its sessions and databases, read on connections that are not
/// pooled, so that looking never adds a session to a pool the test observes.</summary>
internal static class ServerSessions
{
    /// <summary>The ids of the sessions on <paramref name="server"/>, on <paramref name="database"/> only when given.</summary>
    public static async Task<HashSet<long>> ListAsync(DbServer server, string? database = null)
    {
        await using var admin = await OpenUnpooledAsync(server, server.AdminConnectionString);
        await using var command = admin.CreateCommand();
        var postgres = server.Engine == DbEngine.PostgreSql;
        command.CommandText = (postgres ? "SELECT pid FROM pg_stat_activity" : "SELECT ID FROM information_schema.PROCESSLIST")
            + (database is null ? "" : postgres ? " WHERE datname = @db" : " WHERE DB = @db");
        if (database is not null)
        {
            var parameter = command.CreateParameter();
            parameter.ParameterName = "@db";
            parameter.Value = database;
            command.Parameters.Add(parameter);
        }

        await using var reader = await command.ExecuteReaderAsync();
        var ids = new HashSet<long>();
        while (await reader.ReadAsync())
        {
            ids.Add(Convert.ToInt64(reader.GetValue(0)));
        }

        return ids;
    }

    /// <summary>Waits until the server no longer lists session <paramref name="id"/> (a closed connection's
    /// server process ends a moment after the client hangs up), and fails after <paramref name="within"/>.</summary>
    public static async Task WaitGoneAsync(DbServer server, long id, TimeSpan? within = null)
    {
        var patience = within ?? TimeSpan.FromSeconds(15);
        var clock = Stopwatch.StartNew();
        while ((await ListAsync(server)).Contains(id))
        {
            if (clock.Elapsed > patience)
            {
                throw new InvalidOperationException($"session {id} is still on {server} {patience.TotalSeconds:0} s after its connection should have been closed");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Waits until the server no longer has database <paramref name="name"/> (the kit drops databases it
    /// is done with in the background), and fails after <paramref name="within"/>.</summary>
    public static async Task WaitDatabaseGoneAsync(DbServer server, string name, TimeSpan? within = null)
    {
        var patience = within ?? TimeSpan.FromSeconds(30);
        var clock = Stopwatch.StartNew();
        while (await DatabaseExistsAsync(server, name))
        {
            if (clock.Elapsed > patience)
            {
                throw new InvalidOperationException($"database {name} is still on {server} {patience.TotalSeconds:0} s after the test gave it back");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Whether the server has a database called <paramref name="name"/>.</summary>
    public static async Task<bool> DatabaseExistsAsync(DbServer server, string name)
    {
        await using var admin = await OpenUnpooledAsync(server, server.AdminConnectionString);
        await using var command = admin.CreateCommand();
        command.CommandText = server.Engine == DbEngine.PostgreSql
            ? "SELECT COUNT(*) FROM pg_database WHERE datname = @db"
            : "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = @db";
        var parameter = command.CreateParameter();
        parameter.ParameterName = "@db";
        parameter.Value = name;
        command.Parameters.Add(parameter);
        return Convert.ToInt64(await command.ExecuteScalarAsync()) == 1;
    }

    /// <summary>The rows in <c>items</c> of <paramref name="database"/>, as a session of its own (outside any
    /// transaction of the test) sees them.</summary>
    public static async Task<long> ItemsAsync(DbServer server, string database)
    {
        await using var connection = await OpenUnpooledAsync(server, server.ConnectionStringFor(database));
        return Convert.ToInt64(await connection.ScalarAsync("SELECT COUNT(*) FROM items"));
    }

    private static async Task<DbConnection> OpenUnpooledAsync(DbServer server, string connectionString)
    {
        var builder = new DbConnectionStringBuilder { ConnectionString = connectionString };
        builder["Pooling"] = false;
        var connection = server.CreateConnection(builder.ConnectionString);
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
}
