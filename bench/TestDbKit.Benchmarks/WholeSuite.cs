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
        await BuildAsync(root, Console.Out);
        if (dockerWhy is not null)
        {
            Console.WriteLine($"Docker: not measured ({dockerWhy}); the kit on Local alone.");
        }

        var suite = new SuiteRounds(tests, engines.ToDictionary(e => e, e => SuiteVariant.For(e, dockerWhy is null, args)));
        for (var round = 1; round <= rounds; round++)
        {
            await suite.RunRoundAsync(root, round, Console.Out);
        }

        suite.Summarise(Console.Out);
        foreach (var engine in engines)
        {
            await KitPhasesAsync(engine, Console.Out);
        }

        return suite.Failed ? 1 : 0;
    }

    /// <summary>Builds both generated projects once (not timed with the runs) and says how long each took.</summary>
    public static async Task BuildAsync(string root, TextWriter output, CancellationToken ct = default)
    {
        foreach (var project in new[] { "Kit", "Recipe" })
        {
            output.WriteLine($"  built {project} in {await SuiteRunner.BuildAsync(root, project, ct) / 1000:0.0} s (once, not timed below)");
        }
    }

    /// <summary>Where the kit's own start-up goes, in this process (the same calls the base class makes on a run's
    /// first test): the Local server's start, the pool and the template built from the suite's 50 tables, the first
    /// lease, then a lease-and-return per test as the pool reuses its databases.</summary>
    public static async Task KitPhasesAsync(DbEngine engine, TextWriter output)
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
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"kit phases, {engine}, Local, in-process: server start {start:0} ms, pool created {create:0} ms, first lease (template and first database) {lease:0} ms, then lease+write+reset+return {cycle.Median:0.0} ms median ({cycle.Min:0.0}–{cycle.Max:0.0})"));
    }

    public static int Option(string[] args, string name, int fallback) =>
        args.SkipWhile(a => a != name).Skip(1).Select(v => int.Parse(v, CultureInfo.InvariantCulture)).FirstOrDefault(fallback);
}

/// <summary>
/// The whole suite's rounds and what they measured: each round runs the runner's floor, then every engine's variants,
/// each as one <c>dotnet test</c> process on the built projects; <see cref="Summarise"/> prints the tables. The bench
/// runs several rounds of the full suite; the test suite's CI form (tests/TestDbKit.Tests/Bench) one round of a small one.
/// </summary>
internal sealed class SuiteRounds(int tests, IReadOnlyDictionary<DbEngine, IReadOnlyList<SuiteVariant>> variants)
{
    private readonly List<double> _floor = [];
    private readonly List<(int Round, DbEngine Engine, SuiteVariant Variant, SuiteRun Run)> _runs = [];

    /// <summary>Every variant's run so far, in the order they ran (the floor's are not among them).</summary>
    public IReadOnlyList<(int Round, DbEngine Engine, SuiteVariant Variant, SuiteRun Run)> Runs => _runs;

    /// <summary>True once a run did not pass every generated test.</summary>
    public bool Failed { get; private set; }

    /// <summary>Whether a run passed every generated test, and the floor's (<see cref="SuiteGenerator.FloorFilter"/>), and nothing failed.</summary>
    public bool AllPassed(SuiteRun run) => run.ExitCode == 0 && run.Passed == tests + 1 && run.Failed == 0;

    /// <summary>One round: the runner's own floor (the same project, one test without a database: start, discovery,
    /// JIT, exit), then each engine's variants, each line printed as it ends; a failed run's output tail too.</summary>
    public async Task RunRoundAsync(string root, int round, TextWriter output, CancellationToken ct = default)
    {
        var floorVariant = SuiteVariant.For(DbEngine.PostgreSql, docker: false)[0] with { Name = "runner floor" };
        _floor.Add((await SuiteRunner.TestAsync(root, floorVariant, SuiteGenerator.FloorFilter, ct: ct)).Milliseconds);
        foreach (var (engine, list) in variants)
        {
            foreach (var variant in list)
            {
                var run = await SuiteRunner.TestAsync(root, variant, ct: ct);
                _runs.Add((round, engine, variant, run));
                var ok = AllPassed(run);
                output.WriteLine($"  round {round} {engine,-10} {variant.Name,-22} {run.Milliseconds / 1000,7:0.00} s  {run.Passed}/{tests + 1} passed{(ok ? "" : $", {run.Failed} failed, exit {run.ExitCode}")}");
                if (!ok)
                {
                    Failed = true;
                    output.WriteLine(SuiteRunner.Tail(run.Log));
                }
            }
        }
    }

    /// <summary>The tables: each variant's wall time with its ratio to the kit on Local (per round too), the runner's
    /// floor, and where the time went from the test hosts' traces. Failed runs are left out.</summary>
    public void Summarise(TextWriter output)
    {
        var rounds = _runs.Select(r => r.Round).Distinct().Count();
        var passed = _runs.Where(r => AllPassed(r.Run)).ToArray();
        List<double> Samples(DbEngine engine, string name) => [.. passed.Where(r => r.Engine == engine && r.Variant.Name == name).Select(r => r.Run.Milliseconds)];
        output.WriteLine();
        output.WriteLine($"Whole suite, {tests} tests, {rounds} interleaved round(s), {Environment.ProcessorCount} cores; seconds from process start to exit");
        output.WriteLine($"{"engine",-10} {"variant",-22} {"median",7} {"min–max",13} {"÷ kit Local",11} {"per-round ratios",17}");
        foreach (var (engine, list) in variants)
        {
            var kit = Samples(engine, "kit Local");
            foreach (var name in list.Select(v => v.Name))
            {
                var samples = Samples(engine, name);
                if (samples.Count == 0)
                {
                    continue;
                }

                var s = Stats.Of(samples);
                var ratio = kit.Count > 0 ? $"{s.Median / Stats.Of(kit).Median:0.00}x" : "";
                var perRound = kit.Count == samples.Count ? samples.Zip(kit, (v, k) => v / k).ToArray() : [];
                var range = perRound.Length > 0 ? $"{perRound.Min():0.00}–{perRound.Max():0.00}" : "";
                output.WriteLine($"{engine,-10} {name,-22} {s.Median / 1000,7:0.00} {$"{s.Min / 1000:0.00}–{s.Max / 1000:0.00}",13} {ratio,11} {range,17}");
            }
        }

        if (_floor.Count > 0)
        {
            var f = Stats.Of(_floor);
            output.WriteLine($"{"any",-10} {"runner floor",-22} {f.Median / 1000,7:0.00} {$"{f.Min / 1000:0.00}–{f.Max / 1000:0.00}",13}   (one test, no database: dotnet test's start, discovery, JIT, exit; in every row above)");
        }

        output.WriteLine();
        output.WriteLine("Where the time goes (medians; from the test host's trace): runner start = dotnet test's start to the test host's;");
        output.WriteLine("to 1st body = host start to the first test body; tests = first body's start to the last's end; teardown = last body's end to exit");
        output.WriteLine($"{"engine",-10} {"variant",-22} {"runner start",12} {"to 1st body",11} {"tests",8} {"per test",9} {"body mean",9} {"teardown",9}");
        foreach (var (engine, list) in variants)
        {
            foreach (var name in list.Select(v => v.Name))
            {
                var traces = passed.Where(r => r.Engine == engine && r.Variant.Name == name && r.Run.Trace is not null).Select(r => r.Run.Trace!).ToArray();
                if (traces.Length == 0)
                {
                    continue;
                }

                double M(Func<SuiteTrace, double> f) => Stats.Of(traces.Select(f).ToArray()).Median;
                output.WriteLine($"{engine,-10} {name,-22} {M(t => t.RunnerStart) / 1000,10:0.00} s {M(t => t.ToFirstBody) / 1000,9:0.00} s {M(t => t.TestsPhase) / 1000,6:0.00} s " +
                    $"{M(t => t.TestsPhase / t.Bodies),6:0.0} ms {M(t => t.BodySum / t.Bodies),6:0.0} ms {M(t => t.Teardown) / 1000,7:0.00} s");
            }
        }

        output.WriteLine();
    }
}
