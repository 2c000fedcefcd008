namespace TestDbKit.Tests.Servers;

[Collection(EnvironmentCollection.Name)]
public sealed class ProviderChoiceTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Auto_picks_external_when_its_variable_is_set(DbEngine engine)
    {
        await using var real = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        var variable = engine == DbEngine.PostgreSql ? "TESTDBKIT_POSTGRES" : "TESTDBKIT_MYSQL";
        using var env = new EnvironmentScope((variable, real.AdminConnectionString), ("TESTDBKIT_PROVIDER", null));
        await using var server = await DbServer.StartAsync(engine);
        Assert.Equal(DbServerProvider.External, server.Provider);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Auto_picks_local_when_binaries_are_installed(DbEngine engine)
    {
        using var env = new EnvironmentScope(("TESTDBKIT_POSTGRES", null), ("TESTDBKIT_MYSQL", null), ("TESTDBKIT_PROVIDER", null));
        await using var server = await DbServer.StartAsync(engine);
        Assert.Equal(DbServerProvider.Local, server.Provider);
    }

    [Fact]
    public async Task The_provider_variable_forces_a_provider()
    {
        using var env = new EnvironmentScope(("TESTDBKIT_PROVIDER", "external"), ("TESTDBKIT_POSTGRES", null));
        var e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(DbEngine.PostgreSql));
        Assert.Equal(DbServerProvider.External, e.Provider);
        Assert.Contains("TESTDBKIT_POSTGRES", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_provider_name_is_a_clear_error()
    {
        using var env = new EnvironmentScope(("TESTDBKIT_PROVIDER", "podman"));
        var e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(DbEngine.MySql));
        Assert.Contains("TESTDBKIT_PROVIDER='podman'", e.Message, StringComparison.Ordinal);
        Assert.Contains("auto, local, docker or external", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task When_no_provider_can_serve_one_error_lists_each_and_the_fix(DbEngine engine)
    {
        var empty = Directory.CreateTempSubdirectory("tdk-nobin-").FullName;
        using var env = new EnvironmentScope(
            ("TESTDBKIT_PROVIDER", null), ("TESTDBKIT_POSTGRES", null), ("TESTDBKIT_MYSQL", null),
            ("TESTDBKIT_POSTGRES_BIN", empty), ("TESTDBKIT_MYSQL_BIN", empty),
            ("DOCKER_HOST", "unix:///nonexistent/docker.sock"));
        try
        {
            var e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(engine));
            Assert.Equal(DbServerProvider.Auto, e.Provider);
            Assert.Contains("Local:", e.Message, StringComparison.Ordinal);
            Assert.Contains("Docker: no Docker socket at /nonexistent/docker.sock", e.Message, StringComparison.Ordinal);
            Assert.Contains("External:", e.Message, StringComparison.Ordinal);
            Assert.Contains("scripts/install-servers.sh", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(empty);
        }
    }

    [Fact]
    public async Task Docker_unreachable_is_a_clear_error()
    {
        using var env = new EnvironmentScope(("DOCKER_HOST", "unix:///nonexistent/docker.sock"));
        var e = await Assert.ThrowsAsync<DbServerException>(() =>
            DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { Provider = DbServerProvider.Docker }));
        Assert.Equal(DbServerProvider.Docker, e.Provider);
        Assert.Contains("no Docker socket at /nonexistent/docker.sock", e.Message, StringComparison.Ordinal);
        Assert.Contains("docker-setup.sh", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Invalid_setting_names_never_reach_a_command_line()
    {
        var e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions
        {
            Provider = DbServerProvider.Local,
            Settings = new Dictionary<string, string> { ["fsync=on -c evil"] = "1" },
        }));
        Assert.Contains("is not valid", e.Message, StringComparison.Ordinal);
    }
}
