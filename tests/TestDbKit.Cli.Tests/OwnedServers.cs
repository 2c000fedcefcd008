using System.Data.Common;
using System.Globalization;
using TestDbKit.Tests.Common;

namespace TestDbKit.Cli.Tests;

/// <summary>One Local server per engine that the test process starts itself and no <c>testdbkit serve</c> owns (so
/// <c>fault</c> and <c>chaos</c> there need TESTDBKIT_ALLOW_CHAOS=1 and guard their settings with an undo guard),
/// started when first asked for.</summary>
public sealed class OwnedServers : IAsyncLifetime
{
    private readonly Dictionary<DbEngine, Task<DbServer>> _servers = [];
    private readonly Lock _one = new();

    internal Task<DbServer> GetAsync(DbEngine engine)
    {
        lock (_one)
        {
            if (!_servers.TryGetValue(engine, out var server))
            {
                _servers[engine] = server = DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
            }

            return server;
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var server in _servers.Values)
        {
            await (await server).DisposeAsync();
        }
    }

    /// <summary>Creates a kit database (tdk_...), empty; returns its name.</summary>
    internal static async Task<string> NewDatabaseAsync(DbServer server)
    {
        var name = "tdk_g" + Guid.NewGuid().ToString("N")[..10];
        await using var admin = await server.OpenAdminConnectionAsync();
        await admin.ExecuteAsync($"CREATE DATABASE {name}");
        return name;
    }

    /// <summary>The administrator's connection string aimed at <paramref name="database"/>.</summary>
    internal static string On(DbServer server, string database) => Builder(server, b => b["Database"] = database);

    /// <summary>The administrator's connection string aimed at <paramref name="port"/> on 127.0.0.1.</summary>
    internal static string AtPort(DbServer server, int port) => Builder(server, b =>
    {
        b["Host"] = "127.0.0.1";
        b["Port"] = port;
    });

    internal static int PortOf(DbServer server) => Convert.ToInt32(Parsed(server)["Port"], CultureInfo.InvariantCulture);

    internal static string PasswordOf(DbServer server) => Convert.ToString(Parsed(server)["Password"], CultureInfo.InvariantCulture)!;

    /// <summary>The setting faults' marks the kit keeps for <paramref name="database"/>, comma-joined, "" when none:
    /// on PostgreSQL the database's own settings (ALTER DATABASE .. SET), on MySQL its row of the kit's settings table.</summary>
    internal static async Task<string> SettingsOfAsync(DbServer server, string database)
    {
        await using var admin = await server.OpenAdminConnectionAsync();
        var sql = server.Engine == DbEngine.PostgreSql
            ? "SELECT coalesce(string_agg(array_to_string(s.setconfig, ','), ','), '') FROM pg_db_role_setting s " +
              $"JOIN pg_database d ON d.oid = s.setdatabase WHERE s.setrole = 0 AND d.datname = '{database}'"
            : "SELECT COALESCE(MAX(CONCAT_WS(',', idle_ms, idle_in_transaction_ms, statement_ms, read_only)), '') " +
              $"FROM testdbkit.session_settings WHERE database_name = '{database}'";
        return Convert.ToString(await admin.ScalarAsync(sql), CultureInfo.InvariantCulture)!;
    }

    private static DbConnectionStringBuilder Parsed(DbServer server) => server.Engine == DbEngine.PostgreSql
        ? new Npgsql.NpgsqlConnectionStringBuilder(server.AdminConnectionString)
        : new MySqlConnector.MySqlConnectionStringBuilder(server.AdminConnectionString);

    private static string Builder(DbServer server, Action<DbConnectionStringBuilder> change)
    {
        var builder = Parsed(server);
        change(builder);
        return builder.ConnectionString;
    }
}
