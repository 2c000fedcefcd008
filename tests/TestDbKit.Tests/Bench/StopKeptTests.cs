using System.Runtime.Versioning;
using TestDbKit.Benchmarks;
using TestDbKit.Servers;
using TestDbKit.Tests.Reuse;

namespace TestDbKit.Tests.Bench;

/// <summary>The bench's stop of a kept server (the loop's "reuse cold" rounds) while other processes start Local
/// servers: with the server's watcher dead, their start sweeps the same data folder.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class StopKeptTests : OutsideCi
{
    [Fact]
    public async Task Stopping_a_kept_server_whose_data_folder_another_process_swept_first_succeeds()
    {
        await using var kept = new KeptServers();
        var instance = await kept.StartAsync(DbEngine.PostgreSql);
        Assert.NotNull(instance.Kept); // premise: the server really is kept
        var state = kept.State!;
        Assert.True(Directory.Exists(state.Layout));

        // What a sweep beside the stop does first: the owner (the watcher) dead, the server killed, the folder gone.
        Native.Signal(state.WatcherPid, Native.SIGKILL);
        Native.Signal(state.Pid, Native.SIGKILL);
        await TestSupport.EventuallyAsync(() => !TestSupport.ProcessExists(state.Pid), TimeSpan.FromSeconds(20), "the kept server stops");
        try
        {
            Directory.Delete(state.Layout, recursive: true);
        }
        catch (IOException)
        {
            // A real sweep beside this test got there first (its owner is dead): the premise holds all the same.
        }

        await TestSupport.EventuallyAsync(() => !Directory.Exists(state.Layout), TimeSpan.FromSeconds(20), "the data folder is gone");

        await ColdStart.StopKeptAsync(kept.Root);

        Assert.Empty(Directory.GetDirectories(kept.Root));
    }
}
