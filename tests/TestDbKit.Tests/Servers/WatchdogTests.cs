using System.Diagnostics;
using System.Text.Json;

namespace TestDbKit.Tests.Servers;

/// <summary>A server must not outlive the process that started it, even when that process is killed.</summary>
public sealed class WatchdogTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Killing_the_process_that_started_a_server_stops_it_and_deletes_its_data(DbEngine engine)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { CliPath(), "serve", "--engine", engine == DbEngine.PostgreSql ? "postgres" : "mysql", "--provider", "local", "--json" })
        {
            psi.ArgumentList.Add(arg);
        }

        using var child = Process.Start(psi)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var line = await child.StandardOutput.ReadLineAsync(timeout.Token)
            ?? throw new InvalidOperationException("serve printed nothing: " + await child.StandardError.ReadToEndAsync());
        var started = JsonDocument.Parse(line).RootElement;
        var pid = started.GetProperty("pid").GetInt32();
        var folder = started.GetProperty("folder").GetString()!;
        Assert.True(TestSupport.ProcessExists(pid));
        Assert.True(Directory.Exists(folder));

        child.Kill(); // SIGKILL: no finally block, no exit handler runs in the child
        await child.WaitForExitAsync();

        await TestSupport.EventuallyAsync(() => !TestSupport.ProcessExists(pid), TimeSpan.FromSeconds(20), $"server process {pid} stops");
        await TestSupport.EventuallyAsync(() => !Directory.Exists(folder), TimeSpan.FromSeconds(20), $"{folder} is deleted");
    }

    [Fact]
    public async Task Folders_left_by_dead_runs_are_swept_at_the_next_start()
    {
        var root = Directory.CreateTempSubdirectory("tdk-sweep-").FullName;
        try
        {
            var stale = Path.Combine(root, "postgres-stale001");
            Directory.CreateDirectory(Path.Combine(stale, "data"));
            await File.WriteAllTextAsync(Path.Combine(stale, "owner"), "2147483 1"); // no such process
            var alive = Path.Combine(root, "postgres-alive001");
            Directory.CreateDirectory(alive);
            await File.WriteAllTextAsync(Path.Combine(alive, "owner"), $"{Environment.ProcessId} {OwnStartTime()}");

            await using (await DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { Provider = DbServerProvider.Local, DataRoot = root }))
            {
                Assert.False(Directory.Exists(stale), "a dead run's folder was not swept");
                Assert.True(Directory.Exists(alive), "a live process's folder was swept");
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static string OwnStartTime()
    {
        var stat = File.ReadAllText($"/proc/{Environment.ProcessId}/stat");
        return stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19];
    }

    /// <summary>The CLI built next to this test project (same configuration).</summary>
    private static string CliPath()
    {
        var baseDir = AppContext.BaseDirectory; // tests/TestDbKit.Tests/bin/CONFIG/net10.0/
        var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(baseDir)).Parent!.Name;
        var repo = Path.GetFullPath(Path.Combine(baseDir, "../../../../.."));
        var path = Path.Combine(repo, "src/TestDbKit.Cli/bin", configuration, "net10.0/TestDbKit.Cli.dll");
        Assert.True(File.Exists(path), $"the CLI is not built at {path}");
        return path;
    }
}
