using TestDbKit.Servers;

namespace TestDbKit.Tests.Servers;

/// <summary>Runs only where a Docker engine answers; the Docker lane (scripts/test.sh) provides one.</summary>
public sealed class DockerFactAttribute : SkippableFactAttribute
{
    public DockerFactAttribute()
    {
        if (DockerProbe.WhyUnavailableAsync().GetAwaiter().GetResult() is { } why)
        {
            Skip = $"No Docker engine: {why}. The Docker lane of scripts/test.sh starts one.";
        }
    }
}

[Trait("Category", "Docker")]
public sealed class DockerServerTests
{
    [DockerFact]
    public async Task Starts_postgres_in_a_container_and_removes_it()
    {
        await using var server = await DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { Provider = DbServerProvider.Docker });
        Assert.Equal(DbServerProvider.Docker, server.Provider);
        Assert.Equal(1, Convert.ToInt32(await server.ScalarAsync("SELECT 1")));
    }

    [DockerFact]
    public async Task Starts_mysql_in_a_container_and_removes_it()
    {
        await using var server = await DbServer.StartAsync(DbEngine.MySql, new DbServerOptions { Provider = DbServerProvider.Docker });
        Assert.Equal(DbServerProvider.Docker, server.Provider);
        Assert.Equal(1, Convert.ToInt32(await server.ScalarAsync("SELECT 1")));
    }

    [DockerFact]
    public async Task An_image_that_does_not_exist_locally_is_a_clear_error()
    {
        using var env = new EnvironmentScope(("TESTDBKIT_DOCKER_PULL", "never"));
        var e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(DbEngine.PostgreSql,
            new DbServerOptions { Provider = DbServerProvider.Docker, Image = "testdbkit/no-such-image:0" }));
        Assert.Contains("testdbkit/no-such-image:0", e.Message, StringComparison.Ordinal);
        Assert.Contains("does not exist locally", e.Message, StringComparison.Ordinal);
    }
}
