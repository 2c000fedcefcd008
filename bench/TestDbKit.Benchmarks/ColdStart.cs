using System.Diagnostics;
using TestDbKit.Servers;

namespace TestDbKit.Benchmarks;

/// <summary>
/// Cold start to the first accepted connection, per engine and provider, measured in one run so the
/// ratios compare like with like. Docker is the anchor when an engine answers.
/// </summary>
internal static class ColdStart
{
    public static async Task RunAsync(int runs)
    {
        if (Environment.GetCommandLineArgs().Contains("--reuse") && !OperatingSystem.IsWindows())
        {
            await ReuseAsync(runs); // cold and warm starts of a kept server (TESTDBKIT_REUSE=1)
            return;
        }

        if (Environment.GetCommandLineArgs().Contains("--first-test"))
        {
            await FirstTestAsync(runs); // only the part a one-test run pays
            return;
        }

        var docker = await DockerProbe.WhyUnavailableAsync();
        Console.WriteLine($"Cold start to first accepted connection, {runs} runs each (after one warm-up), ms");
        Console.WriteLine($"{"engine",-11} {"provider",-8} {"median",8} {"p90",8} {"min",8}  {"Docker/Local",12}");
        foreach (var engine in new[] { DbEngine.PostgreSql, DbEngine.MySql })
        {
            var local = await MeasureAsync(engine, DbServerProvider.Local, runs);
            Stats? container = docker is null ? await MeasureAsync(engine, DbServerProvider.Docker, runs) : null;
            Print(engine, DbServerProvider.Local, local, container is null ? "" : $"{container.Median / local.Median:0.0}x");
            if (container is not null)
            {
                Print(engine, DbServerProvider.Docker, container, "");
            }
        }

        if (docker is not null)
        {
            Console.WriteLine($"Docker: not measured ({docker}).");
        }

        await FirstTestAsync(runs);
    }

    /// <summary>
    /// The kit's part of a one-test run, Local, defaults: from nothing to the first test body (server start, template
    /// of a 50-table schema, first database, lease, connection proven alive), phase by phase. Run 0 is this process's
    /// first (the JIT cold, as in a test host); the others show the same with the JIT warm. The test host's own start and
    /// discovery come before it and are not in it: the suite bench's loop measures those.
    /// </summary>
    private static async Task FirstTestAsync(int runs)
    {
        Console.WriteLine($"\nTo the first test body, Local, a 50-table schema, ms (run 0: JIT cold; then the median of {runs} runs)");
        foreach (var engine in new[] { DbEngine.PostgreSql, DbEngine.MySql })
        {
            var phases = new Dictionary<string, List<double>>();
            var totals = new List<double>();
            for (var i = 0; i <= runs; i++)
            {
                var current = new List<(string Phase, double Ms)>();
                Sessions.SessionTrace.Observer = (phase, ms) => { lock (current) { current.Add((phase, ms)); } };
                var clock = Stopwatch.StartNew();
                var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
                var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { BuildSchema = SchemaOf50 });
                var options = new Sessions.SessionOptions("bench.First", engine, SchemaOf50, typeof(ColdStart), IsolationMode.Reset, false, false);
                var session = await Sessions.TestSession.StartAsync(options, pool, default);
                var total = clock.Elapsed.TotalMilliseconds;
                Sessions.SessionTrace.Observer = null;
                await session.EndAsync(default);
                await pool.DisposeAsync();
                await server.DisposeAsync();
                var line = string.Join(", ", current.Select(p => $"{p.Phase} {p.Ms:0}"));
                if (i == 0)
                {
                    Console.WriteLine($"{engine,-11} run 0: {total,6:0}  ({line})");
                    continue;
                }

                totals.Add(total);
                foreach (var (phase, ms) in current)
                {
                    (phases.TryGetValue(phase, out var list) ? list : phases[phase] = []).Add(ms);
                }
            }

            Console.WriteLine($"{engine,-11} median {Stats.Of(totals).Median,6:0} (min {Stats.Of(totals).Min:0}, p90 {Stats.Of(totals).P90:0})  " +
                string.Join(", ", phases.Select(p => $"{p.Key} {Stats.Of(p.Value).Median:0}")));
        }
    }

    /// <summary>
    /// The kit's part of a one-test run with TESTDBKIT_REUSE=1, Local: cold (no kept server: it starts one, builds the
    /// template and keeps both) and warm (finds them: state checked, server attached, databases of runs that are over
    /// dropped, template found by its schema code hash, first database copied, lease, connection). Each "run" is a
    /// fresh start of the run-wide server and pool in this process (the janitor's once-per-process sweep is forgotten
    /// between runs, as a new process would have it); the JIT is warm after run 0, which is reported alone.
    /// </summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static async Task ReuseAsync(int runs)
    {
        Console.WriteLine($"\nTo the first test body with TESTDBKIT_REUSE=1, Local, a 50-table schema, ms (median of {runs} runs after run 0; run 0: JIT cold)");
        var root = Directory.CreateTempSubdirectory("testdbkit-coldstart-reuse-").FullName;
        try
        {
            foreach (var engine in new[] { DbEngine.PostgreSql, DbEngine.MySql })
            {
                foreach (var warm in new[] { false, true })
                {
                    var totals = new List<double>();
                    var phases = new Dictionary<string, List<double>>();
                    for (var i = 0; i <= runs; i++)
                    {
                        if (!warm)
                        {
                            await StopKeptAsync(root);
                        }

                        var current = new List<(string Phase, double Ms)>();
                        Sessions.SessionTrace.Observer = (phase, ms) => { lock (current) { current.Add((phase, ms)); } };
                        var clock = Stopwatch.StartNew();
                        var server = await DbServer.StartSharedAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local, Reuse = true, ReuseFolder = root });
                        var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { BuildSchema = SchemaOf50 });
                        var options = new Sessions.SessionOptions("bench.First", engine, SchemaOf50, typeof(ColdStart), IsolationMode.Reset, false, false);
                        var session = await Sessions.TestSession.StartAsync(options, pool, default);
                        var total = clock.Elapsed.TotalMilliseconds;
                        Sessions.SessionTrace.Observer = null;
                        if (server.Instance.Kept is null)
                        {
                            throw new InvalidOperationException("the server was not kept: is CI set?");
                        }

                        await session.EndAsync(default);
                        await pool.DisposeAsync();
                        await server.Instance.DisposeAsync(); // this run is over: the server stays
                        Databases.Janitor.Forget(server);
                        var line = string.Join(", ", current.Select(p => $"{p.Phase} {p.Ms:0}"));
                        if (i == 0)
                        {
                            Console.WriteLine($"{engine,-11} {(warm ? "warm" : "cold"),-5} run 0: {total,6:0}  ({line})");
                            continue;
                        }

                        totals.Add(total);
                        foreach (var (phase, ms) in current)
                        {
                            (phases.TryGetValue(phase, out var list) ? list : phases[phase] = []).Add(ms);
                        }
                    }

                    var s = Stats.Of(totals);
                    Console.WriteLine($"{engine,-11} {(warm ? "warm" : "cold"),-5} median {s.Median,6:0} (min {s.Min:0}, p90 {s.P90:0})  " +
                        string.Join(", ", phases.Select(p => $"{p.Key} {Stats.Of(p.Value).Median:0}")));
                }

                await StopKeptAsync(root);
            }
        }
        finally
        {
            await StopKeptAsync(root);
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>Stops the servers kept under a reuse state folder and forgets them, as their idle time would. The test
    /// projects' kept-server helper stops its servers with it too.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    internal static async Task StopKeptAsync(string root)
    {
        foreach (var folder in Directory.Exists(root) ? Directory.GetDirectories(root) : [])
        {
            if (Servers.Reuse.KeptState.Read(folder) is not { } state)
            {
                continue;
            }

            // Only the processes the state names (their start times too: a process id can be reused once they are gone).
            if (Servers.Reuse.ServerKeeping.IsProcess(state.WatcherPid, state.WatcherStart))
            {
                Native.Signal(state.WatcherPid, Native.SIGKILL); // first, so it does not race the stop
            }

            if (Servers.Reuse.ServerKeeping.IsProcess(state.Pid, state.PidStart))
            {
                Native.Signal(state.Pid, Native.SIGKILL);
            }

            var waited = Stopwatch.StartNew();
            while (Servers.Reuse.ServerKeeping.IsProcess(state.Pid, state.PidStart))
            {
                if (waited.Elapsed > TimeSpan.FromSeconds(20))
                {
                    throw new TimeoutException($"The kept server {state.Pid} (state {folder}) was killed but still runs after 20 s; stop it by hand.");
                }

                await Task.Delay(20);
            }

            // With its owner (the watcher) dead, a Local server that another process starts meanwhile sweeps the same
            // folder (LocalServer.SweepStale): gone, or going, is what this wants.
            for (var attempt = 1; Directory.Exists(state.Layout); attempt++)
            {
                try
                {
                    Directory.Delete(state.Layout, recursive: true);
                }
                catch (DirectoryNotFoundException)
                {
                    break; // gone: what this wants
                }
                catch (IOException) when (attempt < 100)
                {
                    await Task.Delay(20); // the sweep beside this one, or the server's last children, still at it
                }
            }

            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task SchemaOf50(SchemaTarget target, CancellationToken ct)
    {
        var id = target.Engine == DbEngine.PostgreSql ? "SERIAL PRIMARY KEY" : "INT AUTO_INCREMENT PRIMARY KEY";
        var sql = string.Concat(Enumerable.Range(0, 50).Select(t => $"CREATE TABLE t{t} (id {id}, v INT NOT NULL, u INT NOT NULL UNIQUE);"));
        await using var connection = await target.OpenConnectionAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(ct);
    }

    private static async Task<Stats> MeasureAsync(DbEngine engine, DbServerProvider provider, int runs)
    {
        var samples = new List<double>();
        for (var i = 0; i <= runs; i++)
        {
            var clock = Stopwatch.StartNew();
            await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = provider });
            await using (var connection = server.CreateConnection())
            {
                await connection.OpenAsync();
            }

            clock.Stop();
            if (i > 0)
            {
                samples.Add(clock.Elapsed.TotalMilliseconds); // run 0 warms the JIT and the page cache
            }
        }

        return Stats.Of(samples);
    }

    private static void Print(DbEngine engine, DbServerProvider provider, Stats s, string ratio) =>
        Console.WriteLine($"{engine,-11} {provider,-8} {s.Median,8:0} {s.P90,8:0} {s.Min,8:0}  {ratio,12}");
}
