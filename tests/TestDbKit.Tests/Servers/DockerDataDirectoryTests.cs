using TestDbKit.Servers;

namespace TestDbKit.Tests.Servers;

/// <summary>The Docker provider keeps the server's data in memory (a tmpfs, like the Local provider's /dev/shm),
/// and the crash and restart faults keep committed rows although a tmpfs is emptied whenever its container stops.</summary>
[Trait("Category", "Docker")]
public sealed class DockerDataDirectoryTests
{
    [DockerFact]
    public async Task The_data_folder_is_in_memory_and_committed_rows_survive_crash_and_restart()
    {
        foreach (var engine in new[] { DbEngine.PostgreSql, DbEngine.MySql })
        {
            await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Docker });
            var docker = Assert.IsType<DockerServer>(server.Instance);
            Assert.True(docker.DataInMemory, $"{engine}: the image's entrypoint was not found, so the data stayed on disk");

            // The folder the server itself says it writes to is a tmpfs.
            var dataDirectory = Convert.ToString(await server.ScalarAsync(engine == DbEngine.MySql ? "SELECT @@datadir" : "SHOW data_directory"))!;
            Assert.Equal("tmpfs", await FileSystemOfAsync(docker, dataDirectory));

            await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = Databases.Schemas.Small(engine), MaxDatabases = 1 });
            await using var db = await pool.LeaseAsync();
            await using (var c = await db.OpenConnectionAsync())
            {
                await Databases.Schemas.InsertItemAsync(c, engine, "committed");
            }

            var beforeCrash = await MarkProcessAsync(server, engine);
            await db.Faults.CrashServerAsync();
            Assert.NotEqual(beforeCrash, await ProcessMarkAsync(server, engine)); // the premise: a new server process, not the old one unharmed
            await using (var c = await db.OpenConnectionAsync())
            {
                Assert.Equal(1, await Databases.Schemas.CountAsync(c, "items"));
            }

            var beforeRestart = await MarkProcessAsync(server, engine);
            await db.Faults.RestartServerAsync();
            Assert.NotEqual(beforeRestart, await ProcessMarkAsync(server, engine));
            await using (var c = await db.OpenConnectionAsync())
            {
                Assert.Equal(1, await Databases.Schemas.CountAsync(c, "items"));
            }

            Assert.Equal("tmpfs", await FileSystemOfAsync(docker, dataDirectory));
        }
    }

    private static async Task<string> FileSystemOfAsync(DockerServer docker, string folder)
    {
        var result = await docker.ExecAsync(["stat", "-f", "-c", "%T", folder], CancellationToken.None);
        Assert.True(result.ExitCode == 0, $"stat {folder}: {result.Stderr}");
        return result.Stdout.Trim();
    }

    /// <summary>Marks the running server process: MariaDB and MySQL by a global setting no restart keeps (its start
    /// time there is in whole seconds, and a fault can take less), PostgreSQL by its start time to the microsecond.</summary>
    private static async Task<string> MarkProcessAsync(DbServer server, DbEngine engine)
    {
        if (engine == DbEngine.MySql)
        {
            await server.ScalarAsync("SET GLOBAL max_connect_errors = 4242");
        }

        var mark = await ProcessMarkAsync(server, engine);
        Assert.Equal(engine == DbEngine.MySql ? "4242" : mark, mark);
        return mark;
    }

    private static async Task<string> ProcessMarkAsync(DbServer server, DbEngine engine) =>
        Convert.ToString(await server.ScalarAsync(engine == DbEngine.MySql ? "SELECT @@GLOBAL.max_connect_errors" : "SELECT pg_postmaster_start_time()::text"),
            System.Globalization.CultureInfo.InvariantCulture)!;
}

/// <summary>The supervisor starts the server again after the kit's own faults only: a server that ends by itself
/// still ends its container, and the start fails at once instead of at its timeout.</summary>
[Trait("Category", "Docker")]
public sealed class DockerSupervisorTests
{
    [DockerFact]
    public async Task A_server_that_will_not_start_ends_its_container_and_the_start_fails_before_its_timeout()
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(DbEngine.MySql, new DbServerOptions
        {
            Provider = DbServerProvider.Docker,
            StartTimeout = TimeSpan.FromMinutes(2),
            Settings = new Dictionary<string, string> { ["no_such_server_setting"] = "1" },
        }));
        Assert.True(clock.Elapsed < TimeSpan.FromMinutes(1), $"failed only after {clock.Elapsed}: {e.Message}");
    }
}
