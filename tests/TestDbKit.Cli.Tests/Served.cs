using TestDbKit.Tests.Common;
using System.Data.Common;
using System.Globalization;

namespace TestDbKit.Cli.Tests;

/// <summary>One <c>testdbkit serve --database w</c> per engine for a test class, started when first asked for.</summary>
public sealed class Served : IAsyncLifetime
{
    private readonly Dictionary<DbEngine, Task<ServeProcess>> _servers = [];
    private readonly Lock _one = new();

    internal Task<ServeProcess> GetAsync(DbEngine engine)
    {
        lock (_one)
        {
            if (!_servers.TryGetValue(engine, out var server))
            {
                _servers[engine] = server = ServeProcess.StartAsync(Key(engine), "--database", "w");
            }

            return server;
        }
    }

    public static string Key(DbEngine engine) => engine == DbEngine.PostgreSql ? "postgres" : "mysql";

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var server in _servers.Values)
        {
            await (await server).DisposeAsync();
        }
    }
}

/// <summary>What the fault tests do on a served server: open sessions, make kit databases, read settings.</summary>
internal static class Sessions
{
    /// <summary>A new, unpooled session.</summary>
    public static async Task<DbConnection> OpenAsync(DbEngine engine, string connectionString, int timeoutSeconds = 5)
    {
        DbConnection connection = engine == DbEngine.PostgreSql
            ? new Npgsql.NpgsqlConnection(new Npgsql.NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, Timeout = timeoutSeconds }.ConnectionString)
            : new MySqlConnector.MySqlConnection(new MySqlConnector.MySqlConnectionStringBuilder(connectionString) { Pooling = false, ConnectionTimeout = (uint)timeoutSeconds }.ConnectionString);
        try
        {
            await connection.OpenAsync();
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }

        return connection;
    }

    /// <summary>Creates a kit database (tdk_...) with a table <c>notes</c>; returns its name.</summary>
    public static async Task<string> NewKitDatabaseAsync(ServeProcess serve, DbEngine engine)
    {
        var name = "tdk_t" + Guid.NewGuid().ToString("N")[..10];
        await using (var admin = await OpenAsync(engine, serve.ConnectionString))
        {
            await admin.ExecuteAsync($"CREATE DATABASE {name}");
        }

        await using var db = await OpenAsync(engine, AdminOn(engine, serve, name));
        await db.ExecuteAsync("CREATE TABLE notes (id int PRIMARY KEY)");
        return name;
    }

    /// <summary>The administrator's connection string aimed at <paramref name="database"/>.</summary>
    public static string AdminOn(DbEngine engine, ServeProcess serve, string database) =>
        engine == DbEngine.PostgreSql
            ? new Npgsql.NpgsqlConnectionStringBuilder(serve.ConnectionString) { Database = database }.ConnectionString
            : new MySqlConnector.MySqlConnectionStringBuilder(serve.ConnectionString) { Database = database }.ConnectionString;

    /// <summary>A timeout as a new test session of <paramref name="database"/> sees it, in seconds.</summary>
    public static async Task<double> TimeoutSecondsAsync(DbEngine engine, ServeProcess serve, string database, string kind)
    {
        await using var session = await OpenAsync(engine, serve.TestConnectionStringFor(engine, database));
        return (await SessionTimeouts.OfAsync(session, engine, kind)).TotalSeconds;
    }
}
