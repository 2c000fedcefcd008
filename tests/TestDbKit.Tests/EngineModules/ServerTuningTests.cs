using TestDbKit.Engines;
using TestDbKit.Tests.Servers;

namespace TestDbKit.Tests.EngineModules;

/// <summary>One source of server tuning: the settings each engine's module lists are what a server of either
/// provider, Local or Docker, really runs with (read back from the server).</summary>
public sealed class ServerTuningTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_local_server_runs_with_the_engines_tuning(DbEngine engine)
    {
        await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        await AssertTunedAsync(server);
    }

    [Trait("Category", "Docker")]
    [DockerFact]
    public async Task A_docker_postgres_server_runs_with_the_engines_tuning()
    {
        await using var server = await DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { Provider = DbServerProvider.Docker });
        await AssertTunedAsync(server);
    }

    /// <summary>Before the tuning had one source, a MariaDB container flushed its log at every commit
    /// (innodb_flush_log_at_trx_commit = 1) while a local server did not.</summary>
    [Trait("Category", "Docker")]
    [DockerFact]
    public async Task A_docker_mysql_server_runs_with_the_engines_tuning()
    {
        await using var server = await DbServer.StartAsync(DbEngine.MySql, new DbServerOptions { Provider = DbServerProvider.Docker });
        Assert.Equal("2", await ReadAsync(server, "innodb_flush_log_at_trx_commit"));
        await AssertTunedAsync(server);
    }

    private static async Task AssertTunedAsync(DbServer server)
    {
        var module = EngineRegistry.Module(server.Engine);
        Assert.NotEmpty(module.ServerTuning);
        foreach (var (name, value) in module.ServerTuning)
        {
            Assert.True(value == await ReadAsync(server, name), $"{server}: {name} should be {value}");
        }
    }

    private static async Task<string> ReadAsync(DbServer server, string name)
    {
        // A loose option is one the server may not know (MySQL has no userstat); those run here do.
        var variable = name.StartsWith(MySqlModule.LoosePrefix, StringComparison.Ordinal) ? name[MySqlModule.LoosePrefix.Length..] : name;
        var sql = server.Engine == DbEngine.PostgreSql ? $"SELECT current_setting('{variable}')" : $"SELECT @@GLOBAL.{variable}";
        return Convert.ToString(await server.ScalarAsync(sql), System.Globalization.CultureInfo.InvariantCulture)!;
    }
}
