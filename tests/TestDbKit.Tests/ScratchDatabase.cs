using System.Data.Common;

namespace TestDbKit.Tests;

/// <summary>A database of one test's own on the shared server, dropped at the end.</summary>
internal sealed class ScratchDatabase : IAsyncDisposable
{
    private ScratchDatabase(DbServer server, string name)
    {
        Server = server;
        Name = name;
    }

    public DbServer Server { get; }

    public string Name { get; }

    public DbEngine Engine => Server.Engine;

    public string ConnectionString => Server.ConnectionStringFor(Name);

    public static async Task<ScratchDatabase> CreateAsync(DbEngine engine, DbServer? server = null)
    {
        server ??= await DbServer.SharedAsync(engine);
        var name = "tdk_scratch_" + Guid.NewGuid().ToString("N")[..12];
        await using var admin = await server.OpenAdminConnectionAsync();
        await admin.ExecuteAsync($"CREATE DATABASE {name}");
        return new ScratchDatabase(server, name);
    }

    public async Task<DbConnection> OpenAsync()
    {
        var connection = Server.CreateConnection(ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    public async ValueTask DisposeAsync()
    {
        await using var admin = await Server.OpenAdminConnectionAsync();
        await admin.ExecuteAsync(Engine == DbEngine.PostgreSql ? $"DROP DATABASE {Name} WITH (FORCE)" : $"DROP DATABASE {Name}");
    }
}
