using System.Globalization;

namespace TestDbKit.Benchmarks;

/// <summary>
/// The one-test loop: one test of the generated suite run with <c>dotnet test --filter</c>, as a developer reruns
/// it while working on it; the kit (Local) against the recipe (Testcontainers + Respawn's defaults). The test body
/// notes when it ran (see <c>SuiteEnv.Mark</c>), so a round gives the time from the test host's start to the
/// first test body, from <c>dotnet test</c>'s start to it, and the whole <c>dotnet test</c>. With
/// <c>TESTDBKIT_REUSE=1</c> two more: "kit reuse cold" (no kept server: each round stops it first, so the run starts
/// and keeps one) and "kit reuse warm" (the server and template a run before kept). "kit's part" is host start to
/// body less the runner floor's (the same one-test run without a database).
/// </summary>
internal static class Loop
{
    public static async Task<int> RunAsync(string[] args, DbEngine[] engines)
    {
        var rounds = WholeSuite.Option(args, "--rounds", 5);
        var tests = WholeSuite.Option(args, "--tests", 500);
        var seed = WholeSuite.Option(args, "--seed", 17);
        var root = SuiteGenerator.Generate(seed, tests);
        foreach (var project in new[] { "Kit", "Recipe" })
        {
            await SuiteRunner.BuildAsync(root, project);
        }

        var docker = await Servers.DockerProbe.WhyUnavailableAsync() is null;
        return await MeasureAsync(root, engines, rounds, docker, Console.Out) ? 0 : 1;
    }

    /// <summary>The loop's rounds on the suite built in <paramref name="root"/>, and its table; false when a run did
    /// not pass its one test or its first body left no mark. Servers kept for reuse are stopped at the end.</summary>
    public static async Task<bool> MeasureAsync(string root, DbEngine[] engines, int rounds, bool docker, TextWriter output, CancellationToken ct = default)
    {
        const string Filter = "FullyQualifiedName~Suite.C00.T0000_"; // a test that writes to a few tables
        var mark = Path.Combine(Path.GetTempPath(), $"testdbkit-loop-{Environment.ProcessId}.txt");
        // First the runner's floor (one test, no database), then per engine the kit and the recipe.
        var floor = SuiteVariant.For(DbEngine.PostgreSql, docker: false)[0] with { Name = "runner floor" };
        var reuseRoot = Directory.CreateTempSubdirectory("testdbkit-loop-reuse-").FullName;
        var variants = new[] { (Engine: "any", Variant: floor, Filter: SuiteGenerator.FloorFilter) }
            .Concat(engines.SelectMany(e => SuiteVariant.For(e, docker)
                .Where(v => v.Name is "kit Local" or "TC+Respawn default")
                .SelectMany(v => v.Name == "kit Local" ? [v, Reused(v, "cold", reuseRoot), Reused(v, "warm", reuseRoot)] : new[] { v })
                .Select(v => (Engine: e.ToString(), Variant: v, Filter)))).ToArray();
        var samples = variants.ToDictionary(v => v, _ => (Host: new List<double>(), Command: new List<double>(), Wall: new List<double>()));
        var failed = false;
        try
        {
            foreach (var v in variants.Where(v => v.Variant.Name == "kit reuse warm"))
            {
                // Unmeasured: the run that starts the server and builds the template the measured rounds find.
                await SuiteRunner.TestAsync(root, v.Variant, v.Filter, new Dictionary<string, string> { ["SUITE_FIRST_BODY_FILE"] = mark }, ct);
            }

            output.WriteLine($"One-test loop: dotnet test --no-build --filter {Filter}, {rounds} interleaved round(s)");
            for (var round = 1; round <= rounds; round++)
            {
                foreach (var v in variants)
                {
                    File.Delete(mark);
                    if (v.Variant.Name == "kit reuse cold" && !OperatingSystem.IsWindows())
                    {
                        await ColdStart.StopKeptAsync(v.Variant.Environment["TESTDBKIT_REUSE_DIR"]);
                    }

                    var started = DateTimeOffset.Now.ToUnixTimeMilliseconds();
                    var run = await SuiteRunner.TestAsync(root, v.Variant, v.Filter, new Dictionary<string, string> { ["SUITE_FIRST_BODY_FILE"] = mark }, ct);
                    if (run.ExitCode != 0 || run.Passed != 1 || !File.Exists(mark))
                    {
                        failed = true;
                        output.WriteLine($"  round {round} {v.Engine} {v.Variant.Name}: exit {run.ExitCode}, {run.Passed} passed, mark {(File.Exists(mark) ? "written" : "missing")}\n{SuiteRunner.Tail(run.Log)}");
                        continue;
                    }

                    var parts = File.ReadAllText(mark).Split(' ');
                    samples[v].Host.Add(double.Parse(parts[0], CultureInfo.InvariantCulture));
                    samples[v].Command.Add(long.Parse(parts[1], CultureInfo.InvariantCulture) - started);
                    samples[v].Wall.Add(run.Milliseconds);
                }
            }

            foreach (var v in variants.Where(v => v.Variant.Name == "kit reuse warm" && v.Engine == nameof(DbEngine.PostgreSql)))
            {
                // Warm means the runs found the template the first one kept: one template in the kept server's state
                // (PostgreSQL's; MariaDB has no template databases). More means the schema code's hash changed between
                // runs (a value it counts differs per process).
                var dir = v.Variant.Environment["TESTDBKIT_REUSE_DIR"];
                var kept = (Directory.Exists(dir) ? Directory.GetDirectories(dir) : [])
                    .Sum(server => Directory.Exists(Path.Combine(server, "templates")) ? Directory.GetFiles(Path.Combine(server, "templates"), "*.json").Length : 0);
                if (kept != 1)
                {
                    failed = true;
                    output.WriteLine($"  {v.Engine} {v.Variant.Name}: its {rounds + 1} runs kept {kept} templates where one should have served them all, so " +
                        (kept == 0
                            ? "none was kept (the kit logs why: the schema code's hash unknown, tracking off, the state's lock busy)"
                            : "the schema code's hash differed between runs (see SchemaCodeHash)") + "; no run was warm");
                }
            }
        }
        finally
        {
            File.Delete(mark);
            if (!OperatingSystem.IsWindows())
            {
                foreach (var dir in Directory.GetDirectories(reuseRoot))
                {
                    await ColdStart.StopKeptAsync(dir);
                }
            }

            Directory.Delete(reuseRoot, recursive: true);
        }

        var floorHost = samples[variants[0]].Host is { Count: > 0 } f ? Stats.Of(f).Median : double.NaN;
        output.WriteLine($"{"engine",-10} {"variant",-20} {"host start→body",20} {"kit's part",12} {"dotnet test→body",20} {"dotnet test wall",20}   (seconds: median, min–max)");
        foreach (var v in variants)
        {
            var (h, c, w) = samples[v];
            if (w.Count == 0)
            {
                continue;
            }

            var part = v.Variant.Name.StartsWith("kit", StringComparison.Ordinal) && v != variants[0]
                ? string.Create(CultureInfo.InvariantCulture, $"{(Stats.Of(h).Median - floorHost) / 1000:0.000}")
                : "";
            output.WriteLine($"{v.Engine,-10} {v.Variant.Name,-20} {Cell(h),20} {part,12} {Cell(c),20} {Cell(w),20}");
        }

        foreach (var engine in engines)
        {
            var kit = samples.Where(p => p.Key.Engine == engine.ToString() && p.Key.Variant.Name == "kit Local").Select(p => p.Value.Host).FirstOrDefault();
            var recipe = samples.Where(p => p.Key.Engine == engine.ToString() && p.Key.Variant.Name == "TC+Respawn default").Select(p => p.Value.Host).FirstOrDefault();
            if (kit is { Count: > 0 } && recipe is { Count: > 0 })
            {
                output.WriteLine($"{engine}: to the first test body the recipe takes {Stats.Of(recipe).Median / Stats.Of(kit).Median:0.0}x the kit's time");
            }
        }

        return !failed;
    }

    /// <summary>The kit on Local with TESTDBKIT_REUSE=1 and a state folder per variant (so cold never meets warm's server).</summary>
    private static SuiteVariant Reused(SuiteVariant local, string how, string root) => local with
    {
        Key = "reuse-" + how,
        Name = "kit reuse " + how,
        Environment = new Dictionary<string, string>(local.Environment)
        {
            ["TESTDBKIT_REUSE"] = "1",
            ["TESTDBKIT_REUSE_DIR"] = Path.Combine(root, how + "-" + local.Environment["SUITE_ENGINE"]),
            ["CI"] = "", // empty counts as unset: the bench measures a developer's machine
        },
    };

    private static string Cell(List<double> ms)
    {
        var s = Stats.Of(ms);
        return string.Create(CultureInfo.InvariantCulture, $"{s.Median / 1000:0.00} ({s.Min / 1000:0.00}–{s.Max / 1000:0.00})");
    }
}
