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

    // A stand-in server under the kit's real supervisor: like PostgreSQL it refuses to start while a process of the
    // server before it is still alive (PostgreSQL: a backend still holding its shared memory after the crash's
    // SIGKILL), and it has a child that outlives it until the test lets it go.
    private const string StandIn = """
        for s in /proc/[0-9]*/status; do
          [ "$s" = "/proc/$$/status" ] && continue
          ppid=; state=
          while read -r key value rest; do case $key in State:) state=$value ;; PPid:) ppid=$value ;; esac; done 2>/dev/null < "$s"
          if [ "$ppid" = 1 ] && [ -n "$state" ] && [ "$state" != Z ]; then echo "refused: $s is alive"; echo refused >> /tmp/starts; exit 1; fi
        done
        rm -f /tmp/release
        (while [ ! -e /tmp/release ]; do sleep 0.05; done) &
        echo $! > /tmp/child
        echo started; echo started >> /tmp/starts
        exec sleep 1000
        """;

    [DockerFact]
    public async Task After_a_crash_the_server_starts_again_only_once_the_old_servers_children_are_gone()
    {
        var image = TestDbKit.Options.ResolvedServerOptions.Of(DbEngine.PostgreSql, new DbServerOptions()).Image;
        var container = new DotNet.Testcontainers.Builders.ContainerBuilder(image)
            .WithImagePullPolicy(DotNet.Testcontainers.Images.PullPolicy.Never)
            .WithEntrypoint("/bin/sh", "-c", Engines.ContainerRequest.Supervisor, "testdbkit-supervisor", "/bin/sh", "-c", StandIn)
            // This process's label, as the kit's own containers carry it: a sweep beside this test leaves it alone.
            .WithLabel(DockerServer.Label, $"{Environment.MachineName}:{Environment.ProcessId}:{Native.StartTimeOf(Environment.ProcessId)}")
            .Build();
        await container.StartAsync();
        try
        {
            await Expect.EventuallyAsync(async () => await StartsAsync(container) == "started", TimeSpan.FromSeconds(20), "the stand-in server starts");

            // What the crash fault does, less the SIGKILL to the server's child: the server is gone (reaped by the
            // supervisor) while its child is still alive, now PID 1's (the premise).
            var child = await ShAsync(container,
                $"old=$(cat {Engines.ContainerRequest.ServerPidFile}); touch {Engines.ContainerRequest.AgainFile}; kill -s KILL \"$old\"; " +
                "i=0; while kill -0 \"$old\" 2>/dev/null; do i=$((i+1)); [ $i -lt 1000 ] || exit 3; sleep 0.01; done; " +
                "c=$(cat /tmp/child); grep -q '^PPid:[[:space:]]*1$' /proc/$c/status && ! grep -q '^State:[[:space:]]*Z' /proc/$c/status && echo \"$c alive\"");
            if (!child.Contains("alive", StringComparison.Ordinal) || await StartsAsync(container) != "started")
            {
                Assert.Fail($"The premise failed: the old server's child was not seen alive after it ({child.Trim()}), or the server started " +
                    $"again beside it. The container's log: {await LogAsync(container)}");
            }

            // The child ends: only now may the server start again. Without the wait it started at once, beside the
            // child, refused, and its container ended.
            await ShAsync(container, "touch /tmp/release");
            await Expect.EventuallyAsync(async () => (await StartsAsync(container)).Contains(' ', StringComparison.Ordinal), TimeSpan.FromSeconds(20),
                "the stand-in server starts again, or refuses");
            var starts = await StartsAsync(container);
            if (starts != "started started")
            {
                Assert.Fail($"The stand-in server did not start again cleanly ({starts}). The container's log: {await LogAsync(container)}");
            }
        }
        finally
        {
            await container.DisposeAsync();
        }
    }

    /// <summary>What the stand-in wrote at each start; fails with the container's log if the container has ended.</summary>
    private static async Task<string> StartsAsync(DotNet.Testcontainers.Containers.IContainer container)
    {
        if (!await RunningAsync(container))
        {
            Assert.Fail($"The container ended. Its log: {await LogAsync(container)}");
        }

        return string.Join(' ', (await ShAsync(container, "cat /tmp/starts 2>/dev/null")).Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    private static async Task<bool> RunningAsync(DotNet.Testcontainers.Containers.IContainer container)
    {
        var (client, _) = DockerProbe.CreateClient();
        using (client)
        {
            return await DockerServer.IsRunningAsync(client!, container.Id, CancellationToken.None);
        }
    }

    private static async Task<string> LogAsync(DotNet.Testcontainers.Containers.IContainer container) =>
        string.Join(" | ", (await container.GetLogsAsync()).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));

    private static async Task<string> ShAsync(DotNet.Testcontainers.Containers.IContainer container, string script) =>
        (await container.ExecAsync(["/bin/sh", "-c", script])).Stdout;
}
