using System.Diagnostics;
using System.Globalization;
using TestDbKit.Databases;
using TestDbKit.Servers;

namespace TestDbKit.Benchmarks;

/// <summary>
/// The whole suite as a user runs it: the generated app-like suite (see <see cref="SuiteGenerator"/>) as whole
/// <c>dotnet test --no-build</c> processes, timed from process start to exit (server or container start and stop
/// included, the build done once before and excluded). Rounds are interleaved so a noisy neighbour slows every
/// variant alike; each variant's ratio is to the kit on Local in the same round.
/// </summary>
internal static class WholeSuite
{
    public static async Task<int> RunAsync(string[] args, DbEngine[] engines)
    {
        var rounds = Option(args, "--rounds", 3);
        var tests = Option(args, "--tests", 500);
        var seed = Option(args, "--seed", 17);
        var dockerWhy = await DockerProbe.WhyUnavailableAsync();
        var root = SuiteGenerator.Generate(seed, tests);
        Console.WriteLine($"Suite of {tests} generated tests over 50 tables (seed {seed}) in {root}");
        foreach (var project in new[] { "Kit", "Recipe" })
        {
            Console.WriteLine($"  built {project} in {await SuiteRunner.BuildAsync(root, project) / 1000:0.0} s (once, not timed below)");
        }

        if (dockerWhy is not null)
        {
            Console.WriteLine($"Docker: not measured ({dockerWhy}); the kit on Local alone.");
        }

        // The runner's own floor: the same project, one test without a database (start, discovery, JIT, exit).
        var floorVariant = SuiteVariant.For(DbEngine.PostgreSql, docker: false)[0] with { Name = "runner floor" };
        var results = engines.ToDictionary(e => e, e => SuiteVariant.For(e, dockerWhy is null, args).ToDictionary(v => v.Name, _ => new List<double>()));
        var traces = engines.ToDictionary(e => e, e => SuiteVariant.For(e, dockerWhy is null, args).ToDictionary(v => v.Name, _ => new List<SuiteTrace>()));
        var floor = new List<double>();
        var failed = false;
        for (var round = 1; round <= rounds; round++)
        {
            floor.Add((await SuiteRunner.TestAsync(root, floorVariant, filter: SuiteGenerator.FloorFilter)).Milliseconds);
            foreach (var engine in engines)
            {
                foreach (var variant in SuiteVariant.For(engine, dockerWhy is null, args))
                {
                    var run = await SuiteRunner.TestAsync(root, variant);
                    var ok = run.ExitCode == 0 && run.Passed == tests + 1 && run.Failed == 0; // and the floor's test
                    Console.WriteLine($"  round {round} {engine,-10} {variant.Name,-22} {run.Milliseconds / 1000,7:0.00} s  {run.Passed}/{tests + 1} passed{(ok ? "" : $", {run.Failed} failed, exit {run.ExitCode}")}");
                    if (!ok)
                    {
                        failed = true;
                        Console.WriteLine(SuiteRunner.Tail(run.Log));
                        continue;
                    }

                    results[engine][variant.Name].Add(run.Milliseconds);
                    if (run.Trace is { } trace)
                    {
                        traces[engine][variant.Name].Add(trace);
                    }
                }
            }
        }

        Console.WriteLine();
        Console.WriteLine($"Whole suite, {tests} tests, {rounds} interleaved round(s), {Environment.ProcessorCount} cores; seconds from process start to exit");
        Console.WriteLine($"{"engine",-10} {"variant",-22} {"median",7} {"min–max",13} {"÷ kit Local",11} {"per-round ratios",17}");
        foreach (var engine in engines)
        {
            var kit = results[engine]["kit Local"];
            foreach (var (name, samples) in results[engine])
            {
                if (samples.Count == 0)
                {
                    continue;
                }

                var s = Stats.Of(samples);
                var ratio = kit.Count > 0 ? $"{s.Median / Stats.Of(kit).Median:0.00}x" : "";
                var perRound = kit.Count == samples.Count ? samples.Zip(kit, (v, k) => v / k).ToArray() : [];
                var range = perRound.Length > 0 ? $"{perRound.Min():0.00}–{perRound.Max():0.00}" : "";
                Console.WriteLine($"{engine,-10} {name,-22} {s.Median / 1000,7:0.00} {$"{s.Min / 1000:0.00}–{s.Max / 1000:0.00}",13} {ratio,11} {range,17}");
            }
        }

        var f = Stats.Of(floor);
        Console.WriteLine($"{"any",-10} {"runner floor",-22} {f.Median / 1000,7:0.00} {$"{f.Min / 1000:0.00}–{f.Max / 1000:0.00}",13}   (one test, no database: dotnet test's start, discovery, JIT, exit; in every row above)");
        Console.WriteLine();
        Console.WriteLine("Where the time goes (medians; from the test host's trace): runner start = dotnet test's start to the test host's;");
        Console.WriteLine("to 1st body = host start to the first test body; tests = first body's start to the last's end; teardown = last body's end to exit");
        Console.WriteLine($"{"engine",-10} {"variant",-22} {"runner start",12} {"to 1st body",11} {"tests",8} {"per test",9} {"body mean",9} {"teardown",9}");
        foreach (var engine in engines)
        {
            foreach (var (name, list) in traces[engine])
            {
                if (list.Count == 0)
                {
                    continue;
                }

                double M(Func<SuiteTrace, double> f) => Stats.Of(list.Select(f).ToArray()).Median;
                Console.WriteLine($"{engine,-10} {name,-22} {M(t => t.RunnerStart) / 1000,10:0.00} s {M(t => t.ToFirstBody) / 1000,9:0.00} s {M(t => t.TestsPhase) / 1000,6:0.00} s " +
                    $"{M(t => t.TestsPhase / t.Bodies),6:0.0} ms {M(t => t.BodySum / t.Bodies),6:0.0} ms {M(t => t.Teardown) / 1000,7:0.00} s");
            }
        }

        Console.WriteLine();
        foreach (var engine in engines)
        {
            await KitPhasesAsync(engine);
        }

        return failed ? 1 : 0;
    }

    /// <summary>Where the kit's own start-up goes, in this process (the same calls the base class makes on a run's
    /// first test): the Local server's start, the pool and the template built from the suite's 50 tables, the first
    /// lease, then a lease-and-return per test as the pool reuses its databases.</summary>
    public static async Task KitPhasesAsync(DbEngine engine)
    {
        var clock = Stopwatch.StartNew();
        await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        var start = clock.Elapsed.TotalMilliseconds;
        clock.Restart();
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions
        {
            CreateSchema = async connection =>
            {
                foreach (var statement in global::Suite.Schema.Statements(engine == DbEngine.PostgreSql))
                {
                    await using var command = connection.CreateCommand();
                    command.CommandText = statement;
                    await command.ExecuteNonQueryAsync();
                }
            },
        });
        var create = clock.Elapsed.TotalMilliseconds;
        clock.Restart();
        var first = await pool.LeaseAsync();
        var lease = clock.Elapsed.TotalMilliseconds;
        await first.DisposeAsync();
        var cycles = new List<double>();
        for (var i = 0; i < 20; i++)
        {
            clock.Restart();
            var database = await pool.LeaseAsync();
            await using (var connection = await database.OpenConnectionAsync())
            {
                await using var command = connection.CreateCommand();
                command.CommandText = "INSERT INTO t01 (code, amount) VALUES ('x', 1)";
                await command.ExecuteNonQueryAsync();
            }

            await database.DisposeAsync();
            cycles.Add(clock.Elapsed.TotalMilliseconds);
        }

        var cycle = Stats.Of(cycles);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"kit phases, {engine}, Local, in-process: server start {start:0} ms, pool created {create:0} ms, first lease (template and first database) {lease:0} ms, then lease+write+reset+return {cycle.Median:0.0} ms median ({cycle.Min:0.0}–{cycle.Max:0.0})"));
    }

    public static int Option(string[] args, string name, int fallback) =>
        args.SkipWhile(a => a != name).Skip(1).Select(v => int.Parse(v, CultureInfo.InvariantCulture)).FirstOrDefault(fallback);
}
