using System.Diagnostics;
using System.Globalization;
using Xunit.Abstractions;

namespace TestDbKit.Tests.Killed;

/// <summary>
/// A test run SIGKILLed while a lasting fault is in effect on a server of its own (Local): the fault is proven in
/// effect at the kill (from outside the run), then the run's watchdog removes the server: every process of it
/// (a frozen one too) and its data folder, so nothing frozen, changed or orphaned is left for the next run.
/// </summary>
public sealed class KilledOwnedServerTests(ITestOutputHelper output)
{
    /// <summary>What the watchdog may take: SIGCONT, the stop signal, SIGKILL after 10 s at most, then the folder. Not
    /// much more: a later start's sweep of dead runs' folders would remove the server too, and must not pass for it.</summary>
    private static readonly TimeSpan RemovedWithin = TimeSpan.FromSeconds(15);

    public static TheoryData<DbEngine, string> Kinds() => new()
    {
        { DbEngine.PostgreSql, "read-only" },
        { DbEngine.PostgreSql, "idle" },
        { DbEngine.PostgreSql, "idle-in-transaction" },
        { DbEngine.PostgreSql, "statement-timeout" },
        { DbEngine.PostgreSql, "exhaust" },
        { DbEngine.PostgreSql, "network-stall" },
        { DbEngine.PostgreSql, "lock" },
        // MariaDB is one process, and on a server of the test's own the setting faults change the global values.
        { DbEngine.MySql, "freeze" },
        { DbEngine.MySql, "exhaust" },
        { DbEngine.MySql, "read-only" },
        { DbEngine.MySql, "idle" },
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Killed_mid_fault_the_watchdog_removes_its_server_whole(DbEngine engine, string kind)
    {
        await using var run = await KilledRun.StartAsync(engine, kind, external: null);
        var pid = run.Report.ServerPid ?? throw new InvalidOperationException("the child's server has no process");
        var folder = run.Report.Folder ?? throw new InvalidOperationException("the child's server has no folder");
        var members = ProcessTree(pid);
        Assert.True(await run.InEffectAsync(), $"premise: {kind} is in effect before the kill");
        if (kind == "freeze")
        {
            Assert.All(members, p => Assert.Equal('T', StateOf(p))); // premise: every process of the server is stopped
        }

        await run.KillAsync();
        await TestSupport.EventuallyAsync(
            () => members.All(p => !TestSupport.ProcessExists(p)) && !Directory.Exists(folder), RemovedWithin,
            $"the killed run's server ({string.Join(", ", members)}) is gone with its folder {folder}");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{engine} {kind}: server and folder gone {Stopwatch.GetElapsedTime(run.KilledAt).TotalMilliseconds:0} ms after the kill"));
    }

    /// <summary>PostgreSQL frozen: every backend is its own session leader, stopped; the watchdog sends SIGCONT to the
    /// postmaster only, so the backends stay stopped, orphaned, after the postmaster is killed (seen: 7 processes in
    /// state T under pid 1, folder deleted). Needs the watchdog to SIGCONT the whole process tree first.</summary>
    [Fact]
    public Task Killed_while_a_PostgreSQL_server_of_its_own_is_frozen_the_watchdog_removes_every_process_of_it() =>
        Killed_mid_fault_the_watchdog_removes_its_server_whole(DbEngine.PostgreSql, "freeze");

    /// <summary>The server's process and every process under it (PostgreSQL's backends and workers).</summary>
    private static List<int> ProcessTree(int root)
    {
        var all = new List<int> { root };
        for (var i = 0; i < all.Count; i++)
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{all[i]}/task"))
            {
                var children = File.ReadAllText(Path.Combine(task, "children"));
                all.AddRange(children.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(c => int.Parse(c, CultureInfo.InvariantCulture)));
            }
        }

        return all;
    }

    private static char StateOf(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return stat[stat.LastIndexOf(')') + 2];
    }
}

/// <summary>
/// A test run SIGKILLed while a lasting fault is in effect on a shared server: one this test starts and hands to the
/// run as External (with TESTDBKIT_ALLOW_CHAOS=1; freeze and exhaust are refused there, so their shared case is
/// <c>testdbkit serve</c>'s, in the CLI's tests). What lives in the dead process goes at once: a held lock (its session
/// ends with the process), a stalled proxy (it ran in the process; its sessions end). A setting stays on the dead run's
/// own database only, where no other run looks; the next run's janitor drops that database with it (the dead run holds
/// no mark on the server any more: missing at the janitor's first look and still a grace later).
/// </summary>
public sealed class KilledSharedServerTests(ITestOutputHelper output)
{
    public static TheoryData<DbEngine, string> Kinds() => new()
    {
        { DbEngine.PostgreSql, "read-only" },
        { DbEngine.PostgreSql, "idle" },
        { DbEngine.PostgreSql, "idle-in-transaction" },
        { DbEngine.PostgreSql, "statement-timeout" },
        { DbEngine.PostgreSql, "network-stall" },
        { DbEngine.PostgreSql, "lock" },
        // MySQL refuses the setting faults on an External server whose sessions log in as its administrator.
        { DbEngine.MySql, "network-stall" },
        { DbEngine.MySql, "lock" },
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Killed_mid_fault_what_it_held_goes_at_once_and_the_next_run_starts_clean(DbEngine engine, string kind)
    {
        await using var shared = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        await using var run = await KilledRun.StartAsync(engine, kind, shared.AdminConnectionString);
        var dead = run.Report.Database;
        Assert.True(await run.InEffectAsync(), $"premise: {kind} is in effect before the kill");

        await run.KillAsync();
        if (kind is "lock" or "network-stall")
        {
            // The lock's session and the sessions through the proxy were the dead process's: the server ends them.
            await Expect.EventuallyAsync(async () => (await ServerSessions.OfDatabaseAsync(shared, engine, dead)).Count == 0,
                TimeSpan.FromSeconds(20), $"the server ends the killed run's sessions on {dead}");
            Assert.False(kind == "lock" && await run.InEffectAsync(), "the lock outlived the killed run");
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{engine} {kind}: released {Stopwatch.GetElapsedTime(run.KilledAt).TotalMilliseconds:0} ms after the kill"));
        }
        else
        {
            Assert.True(await run.InEffectAsync(), $"{kind} is expected to stay on the dead run's own database until its janitor drops it");
        }

        // The next run on the shared server, with the default options: its janitor drops the databases of runs that hold
        // no mark (the dead run's ended with its process), however young; its own database has no fault.
        await using var next = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.External, ConnectionString = shared.AdminConnectionString });
        await using var pool = await DatabasePool.CreateAsync(next, new DatabasePoolOptions
        {
            CreateSchema = c => c.ExecuteAsync("CREATE TABLE notes (id int PRIMARY KEY)"),
            MaxDatabases = 1,
        });
        await using var fresh = await pool.LeaseAsync();
        // The janitor drops a run's databases once its mark is still missing a grace after its first look.
        await Expect.EventuallyAsync(async () => !await ServerSessions.DatabaseExistsAsync(shared, dead), TestDbKit.Databases.RunLiveness.ConfirmAfter * 3,
            $"the dead run's database {dead} outlived the next run's janitor");
        Assert.False(kind != "network-stall" && await run.InEffectAsync(fresh.ConnectionString), $"{kind} reached the next run's database");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{engine} {kind}: the next run started clean {Stopwatch.GetElapsedTime(run.KilledAt).TotalMilliseconds:0} ms after the kill"));
    }
}
