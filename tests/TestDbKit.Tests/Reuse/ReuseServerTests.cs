using System.Runtime.Versioning;
using TestDbKit.Options;
using TestDbKit.Servers;

namespace TestDbKit.Tests.Reuse;

/// <summary>TESTDBKIT_REUSE: the kept server is private to its user, off in CI, and stops after its idle time.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class ReuseServerTests : OutsideCi
{
    [Fact]
    public async Task A_kept_server_is_found_by_the_next_start_and_is_not_stopped_by_its_dispose()
    {
        await using var kept = new KeptServers();
        var first = await kept.StartAsync(DbEngine.PostgreSql);
        Assert.NotNull(first.Kept);
        Assert.False(first.Kept.Attached);
        await first.DisposeAsync(); // this "run" is over: the server lives on

        var second = await kept.StartAsync(DbEngine.PostgreSql);
        Assert.True(second.Kept?.Attached, kept.Logs.ToString());
        Assert.Equal(first.ProcessId, second.ProcessId);
        Assert.True(TestSupport.ProcessExists(second.ProcessId!.Value));
        await using var admin = Engines.EngineDialect.For(DbEngine.PostgreSql).CreateConnection(second.AdminConnectionString);
        await admin.OpenAsync();
        Assert.Equal(1, Convert.ToInt32(await admin.ScalarAsync("SELECT 1")));
    }

    [Theory]
    [InlineData("folder open to others")]
    [InlineData("password readable by others")]
    [InlineData("folder of another user")]
    public async Task A_state_that_is_not_the_users_own_is_never_used(string how)
    {
        Skip.If(how == "folder of another user" && !TestSupport.IsRoot, "only root can give a folder to another user");
        await using var kept = new KeptServers();
        var first = await kept.StartAsync(DbEngine.PostgreSql);
        await first.DisposeAsync();
        var folder = kept.ServerFolder;

        // The premise: left alone, the state is used.
        var again = await kept.StartAsync(DbEngine.PostgreSql);
        Assert.True(again.Kept?.Attached, kept.Logs.ToString());
        await again.DisposeAsync();

        switch (how)
        {
            case "folder open to others":
                File.SetUnixFileMode(folder, File.GetUnixFileMode(folder) | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
                break;
            case "password readable by others":
                File.SetUnixFileMode(Path.Combine(folder, "password"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
                break;
            default:
                Native.Chown(folder, 65534, 65534);
                break;
        }

        var fresh = await kept.StartAsync(DbEngine.PostgreSql);
        Assert.Null(fresh.Kept);
        Assert.NotEqual(first.ProcessId, fresh.ProcessId);
        Assert.Contains(kept.Logs.Entries, e => e.Id.Id == 52 && e.Message.Contains("not this user's own", StringComparison.Ordinal));
        if (how == "folder of another user")
        {
            Native.Chown(folder, 0, 0); // so the cleanup can read the state and stop the first server
        }
        else if (how == "folder open to others")
        {
            File.SetUnixFileMode(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }

    [Fact]
    public async Task Reuse_is_off_in_CI_and_says_why()
    {
        await using var kept = new KeptServers();
        using (KitEnvironment.Override(new Dictionary<string, string?> { [KitEnvironment.Ci] = "false" }))
        {
            // The premise: the same options keep the server outside CI.
            var outside = await kept.StartAsync(DbEngine.PostgreSql);
            Assert.NotNull(outside.Kept);
        }

        using (KitEnvironment.Override(new Dictionary<string, string?> { [KitEnvironment.Ci] = "true" }))
        {
            Assert.False(ReusePlan.Of(kept.Options(), DbServerProvider.Local).On);
            var inCi = await kept.StartAsync(DbEngine.PostgreSql);
            Assert.Null(inCi.Kept);
            Assert.Contains(kept.Logs.Entries, e => e.Id.Id == 50 && e.Message.Contains("CI is set", StringComparison.Ordinal));
            await inCi.DisposeAsync();
            Assert.False(TestSupport.ProcessExists(inCi.ProcessId ?? 0), "a server started in CI outlived its dispose");
        }
    }

    [Fact]
    public async Task A_server_of_the_callers_own_is_never_kept()
    {
        await using var kept = new KeptServers();
        await using var own = await DbServer.StartAsync(DbEngine.PostgreSql, kept.Options());
        Assert.Null(own.Instance.Kept);
        Assert.Contains(kept.Logs.Entries, e => e.Id.Id == 50);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task The_server_stops_after_the_idle_time_when_no_run_comes(DbEngine engine)
    {
        await using var kept = new KeptServers();
        var server = await kept.StartAsync(engine, kept.Options(idle: TimeSpan.FromSeconds(1)));
        var state = kept.State ?? throw new InvalidOperationException("no state was written: " + kept.Logs);
        var folder = kept.ServerFolder;

        // The premise: while the run is registered and alive, the idle time does not run.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await TestSupport.EventuallyAsync(() => clock.Elapsed > TimeSpan.FromSeconds(2.5), TimeSpan.FromSeconds(10), "time passes");
        Assert.True(TestSupport.ProcessExists(state.Pid), "the server stopped while a run was using it");

        await server.DisposeAsync(); // the run is over; no other comes
        await TestSupport.EventuallyAsync(() => !TestSupport.ProcessExists(state.Pid), TimeSpan.FromSeconds(30), $"the kept server {state.Pid} stops");
        await TestSupport.EventuallyAsync(() => !Directory.Exists(state.Layout), TimeSpan.FromSeconds(10), $"its data folder {state.Layout} is deleted");
        await TestSupport.EventuallyAsync(() => !File.Exists(Path.Combine(folder, "state")), TimeSpan.FromSeconds(10), "its state is deleted");
        await TestSupport.EventuallyAsync(() => !TestSupport.ProcessExists(state.WatcherPid), TimeSpan.FromSeconds(10), "the idle watcher exits");
    }

    [Fact]
    public async Task A_state_whose_password_is_refused_is_replaced_by_a_fresh_kept_server()
    {
        await using var kept = new KeptServers();
        var first = await kept.StartAsync(DbEngine.PostgreSql);
        await first.DisposeAsync();
        var before = kept.State!;
        File.WriteAllText(Path.Combine(kept.ServerFolder, "password"), "not-the-password"); // as if the server were another

        var fresh = await kept.StartAsync(DbEngine.PostgreSql);
        Assert.False(fresh.Kept?.Attached ?? true, kept.Logs.ToString());
        Assert.NotEqual(before.Pid, fresh.ProcessId);
        Assert.Contains(kept.Logs.Entries, e => e.Id.Id == 53 && e.Message.Contains("refused the kept password", StringComparison.Ordinal));
        Assert.Equal(fresh.ProcessId, kept.State!.Pid);
        await TestSupport.EventuallyAsync(() => !TestSupport.ProcessExists(before.Pid), TimeSpan.FromSeconds(20), "the old server is stopped");
        await TestSupport.EventuallyAsync(() => !TestSupport.ProcessExists(before.WatcherPid), TimeSpan.FromSeconds(10), "the old idle watcher is stopped");
        Assert.False(Directory.Exists(before.Layout), "the old server's data folder is left");
    }

    [Fact]
    public async Task A_kept_server_that_died_is_replaced_by_a_fresh_one()
    {
        await using var kept = new KeptServers();
        var first = await kept.StartAsync(DbEngine.PostgreSql);
        await first.DisposeAsync();
        var before = kept.State!;
        Native.Signal(before.Pid, Native.SIGKILL);
        await TestSupport.EventuallyAsync(() => !TestSupport.ProcessExists(before.Pid), TimeSpan.FromSeconds(20), "the server is gone");

        // Its watcher or the next run (whichever comes first) forgets it; the run gets a fresh kept server.
        var fresh = await kept.StartAsync(DbEngine.PostgreSql);
        Assert.False(fresh.Kept?.Attached ?? true, kept.Logs.ToString());
        Assert.NotEqual(before.Pid, fresh.ProcessId);
        Assert.Equal(fresh.ProcessId, kept.State!.Pid);
    }
}
