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
    public async Task Testcontainers_talks_to_the_users_log_only_and_never_names_the_password()
    {
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var logs = new LogCollector();
        TestDbKit.Sessions.TestOutput.Enter(new TestDbKit.Sessions.TestOutput(lines.Enqueue)); // this test's flow only
        await using var server = await DbServer.StartAsync(DbEngine.MySql, new DbServerOptions { Provider = DbServerProvider.Docker, LoggerFactory = logs });
        var password = server.Dialect.PasswordOf(server.AdminConnectionString)!;

        // The premise: Testcontainers logged the commands it ran in the container.
        Assert.True(logs.Entries.Any(e => e.Message.StartsWith("Execute ", StringComparison.Ordinal)), "Testcontainers logged no command:\n" + logs);
        Assert.DoesNotContain(lines, l => l.Contains("Execute ", StringComparison.Ordinal)); // its chatter is not the test's output
        Assert.Contains(lines, l => l.Contains("Started ", StringComparison.Ordinal)); // the kit's own words are
        Assert.DoesNotContain(logs.Entries, e => e.Message.Contains(password, StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(password, StringComparison.Ordinal));
    }
}

/// <summary>Sets <c>TESTDBKIT_DOCKER_PULL</c>, a process-wide variable that every Docker start reads: runs in the
/// environment collection, so no other test starts a container (or reads the variable) meanwhile.</summary>
[Trait("Category", "Docker")]
[Collection(EnvironmentCollection.Name)]
public sealed class DockerImagePullTests
{
    [DockerFact]
    public async Task An_image_that_does_not_exist_locally_is_a_clear_error()
    {
        using var env = new EnvironmentScope(("TESTDBKIT_DOCKER_PULL", "never"));
        var e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(DbEngine.PostgreSql,
            new DbServerOptions { Provider = DbServerProvider.Docker, Image = "testdbkit/no-such-image:0" }));
        Assert.Equal(DbServerProvider.Docker, e.Provider);
        Assert.Contains("testdbkit/no-such-image:0", e.Message, StringComparison.Ordinal);
        Assert.Contains("is not on this machine", e.Message, StringComparison.Ordinal);
    }
}

[Trait("Category", "Docker")]
public sealed class DockerServerFaultTests
{
    [DockerFact]
    public async Task Crash_restart_and_freeze_work_on_containers_and_keep_port_and_data()
    {
        foreach (var engine in new[] { DbEngine.PostgreSql, DbEngine.MySql })
        {
            await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Docker });
            await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = Databases.Schemas.Small(engine), MaxDatabases = 1 });
            await using var db = await pool.LeaseAsync();
            await using (var c = await db.OpenConnectionAsync())
            {
                await Databases.Schemas.InsertItemAsync(c, engine, "kept");
            }

            var cs = server.AdminConnectionString;
            await db.Faults.CrashServerAsync();
            Assert.Equal(cs, server.AdminConnectionString);
            await db.Faults.RestartServerAsync();
            await using (await db.Faults.FreezeServerAsync())
            {
            }

            await using var after = await db.OpenConnectionAsync();
            Assert.Equal(1, await Databases.Schemas.CountAsync(after, "items"));
        }
    }

    [DockerFact]
    public async Task Commits_acknowledged_just_before_a_crash_survive_it()
    {
        foreach (var engine in new[] { DbEngine.PostgreSql, DbEngine.MySql })
        {
            await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Docker });
            await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = Databases.Schemas.Small(engine), MaxDatabases = 1 });
            await using var db = await pool.LeaseAsync();
            await using (var c = await db.OpenConnectionAsync())
            {
                for (var i = 0; i < 50; i++)
                {
                    await Databases.Schemas.InsertItemAsync(c, engine, $"acknowledged {i}");
                }
            }

            // No pause: a server that acknowledges commits before writing them (Testcontainers' default
            // synchronous_commit=off) loses the last ones here.
            await db.Faults.CrashServerAsync();
            await using var after = await db.OpenConnectionAsync();
            Assert.Equal(50, await Databases.Schemas.CountAsync(after, "items"));
            if (engine == DbEngine.PostgreSql)
            {
                Assert.Equal("on", await after.ScalarAsync("SHOW synchronous_commit"));
            }
        }
    }

    [DockerFact]
    public async Task Containers_left_by_a_dead_process_are_swept()
    {
        var image = TestDbKit.Options.ResolvedServerOptions.Of(DbEngine.PostgreSql, new DbServerOptions()).Image;
        var container = new DotNet.Testcontainers.Builders.ContainerBuilder(image)
            .WithEnvironment("POSTGRES_PASSWORD", "x")
            .WithImagePullPolicy(DotNet.Testcontainers.Images.PullPolicy.Never)
            .WithLabel(DockerServer.Label, $"{Environment.MachineName}:2147483:1") // no such process
            .Build();
        await container.StartAsync();
        try
        {
            Assert.True(await DockerServer.SweepStaleAsync(default) >= 1);
            var (client, _) = DockerProbe.CreateClient();
            using (client)
            {
                using var response = await client!.GetAsync(new Uri($"/containers/{container.Id}/json", UriKind.Relative));
                Assert.Equal(System.Net.HttpStatusCode.NotFound, response.StatusCode);
            }
        }
        finally
        {
            await container.DisposeAsync();
        }
    }
}
