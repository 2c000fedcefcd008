using System.Diagnostics;
using System.Text.RegularExpressions;

namespace TestDbKit.Benchmarks;

/// <summary>One way of running the generated suite: which project, and the environment that picks the variant.</summary>
internal sealed record SuiteVariant(string Key, string Name, string Project, IReadOnlyDictionary<string, string> Environment)
{
    /// <summary>The short names <c>--variants</c> takes by default, in the order of <see cref="For"/>; <c>serial</c>
    /// (the kit on Local, one test at a time) only when named.</summary>
    public static readonly string[] Keys = ["local", "docker", "respawn", "reseed", "rollback"];

    /// <summary>Run settings after <c>dotnet test</c>'s <c>--</c>.</summary>
    public IReadOnlyList<string> RunSettings { get; init; } = [];

    /// <summary>The variants <c>--variants a,b</c> picks (all but serial when absent); the kit on Local always, as the anchor.</summary>
    public static IReadOnlyList<SuiteVariant> For(DbEngine engine, bool docker, string[] args)
    {
        var picked = args.SkipWhile(a => a != "--variants").Skip(1).FirstOrDefault()?.Split(',') ?? Keys;
        return [.. For(engine, docker).Where(v => v.Key == "local" || picked.Contains(v.Key))];
    }

    /// <summary>The variants for one engine: the kit on Local and on Docker, the recipe with Respawn's defaults and
    /// with <c>WithReseed</c>, and the recipe with a rolled-back transaction per test.</summary>
    public static IReadOnlyList<SuiteVariant> For(DbEngine engine, bool docker)
    {
        var common = new Dictionary<string, string>
        {
            ["SUITE_ENGINE"] = engine == DbEngine.PostgreSql ? "postgresql" : "mysql",
            ["TESTDBKIT_POSTGRES_IMAGE"] = System.Environment.GetEnvironmentVariable("TESTDBKIT_POSTGRES_IMAGE") ?? "testdbkit/postgres:15",
            ["TESTDBKIT_MYSQL_IMAGE"] = System.Environment.GetEnvironmentVariable("TESTDBKIT_MYSQL_IMAGE") ?? "testdbkit/mariadb:10.11",
            ["TESTDBKIT_DOCKER_PULL"] = "never",
            ["TESTCONTAINERS_RYUK_DISABLED"] = "true",
            ["TESTCONTAINERS_HOST_OVERRIDE"] = "127.0.0.1",
        };
        Dictionary<string, string> With(string key, string value) => new(common) { [key] = value };
        var variants = new List<SuiteVariant>
        {
            new("local", "kit Local", "Kit", With("TESTDBKIT_PROVIDER", "local")),
            // What the second core buys: the same run with xunit's parallelism off.
            new("serial", "kit Local serial", "Kit", With("TESTDBKIT_PROVIDER", "local")) { RunSettings = ["xUnit.MaxParallelThreads=1", "xUnit.ParallelizeTestCollections=false"] },
        };
        if (docker)
        {
            variants.Add(new("docker", "kit Docker", "Kit", With("TESTDBKIT_PROVIDER", "docker")));
            variants.Add(new("respawn", "TC+Respawn default", "Recipe", With("SUITE_MODE", "respawn")));
            variants.Add(new("reseed", "TC+Respawn WithReseed", "Recipe", With("SUITE_MODE", "reseed")));
            variants.Add(new("rollback", "TC+rollback per test", "Recipe", With("SUITE_MODE", "rollback")));
        }

        return variants;
    }
}

/// <summary>What one <c>dotnet test</c> process did: its wall time from start to exit, its test counts, and where
/// its time went (when the test host wrote its trace).</summary>
internal sealed record SuiteRun(double Milliseconds, int Passed, int Failed, int ExitCode, string Log)
{
    public SuiteTrace? Trace { get; init; }
}

/// <summary>Where a run's time went, in ms: <c>dotnet test</c>'s start to the test host's start (the runner's own
/// start), the host's start to the first test body (discovery, JIT, the server's start, the schema, the first lease),
/// the tests phase (first body's start to last body's end), the bodies' summed time, and the last body's end to
/// <c>dotnet test</c>'s exit (teardown: the kit's or the container's stop, the runner's exit).</summary>
internal sealed record SuiteTrace(double RunnerStart, double ToFirstBody, double TestsPhase, int Bodies, double BodySum, double Teardown)
{
    public static SuiteTrace? Read(string file, long started, long ended)
    {
        if (!File.Exists(file))
        {
            return null;
        }

        var p = File.ReadAllText(file).Split(' ').Select(v => double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        File.Delete(file);
        return new SuiteTrace(p[0] - started, p[1] - p[0], p[2] - p[1], (int)p[3], p[4], ended - p[2]);
    }
}

/// <summary>Builds the generated projects once and runs them as whole <c>dotnet test --no-build</c> processes.</summary>
internal static partial class SuiteRunner
{
    public static async Task<double> BuildAsync(string root, string project, CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        var run = await DotnetAsync(root, ["build", Path.Combine(root, project, project + ".csproj"), "-c", "Release", "--nologo", "-v", "quiet", "-clp:ErrorsOnly"], new Dictionary<string, string>(), ct);
        if (run.ExitCode != 0)
        {
            throw new InvalidOperationException($"Building the generated {project} project in {root} failed (exit {run.ExitCode}); fix the template in bench/SuiteTemplate or the generator. Output:\n{Tail(run.Log)}");
        }

        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>Runs the project's tests as the user would (no build), timed from the process's start to its exit.</summary>
    public static async Task<SuiteRun> TestAsync(string root, SuiteVariant variant, string? filter = null, IReadOnlyDictionary<string, string>? extra = null, CancellationToken ct = default)
    {
        List<string> args = ["test", Path.Combine(root, variant.Project, variant.Project + ".csproj"), "-c", "Release", "--no-build", "--nologo"];
        if (filter is not null)
        {
            args.AddRange(["--filter", filter]);
        }

        if (variant.RunSettings.Count > 0)
        {
            args.Add("--");
            args.AddRange(variant.RunSettings);
        }

        var environment = new Dictionary<string, string>(variant.Environment);
        foreach (var (key, value) in extra ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }

        var trace = Path.Combine(Path.GetTempPath(), $"testdbkit-suite-trace-{System.Environment.ProcessId}.txt");
        File.Delete(trace);
        environment["SUITE_TRACE_FILE"] = trace;
        var started = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var run = await DotnetAsync(root, args, environment, ct);
        return run with { Trace = SuiteTrace.Read(trace, started, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()) };
    }

    private static async Task<SuiteRun> DotnetAsync(string root, IEnumerable<string> args, IReadOnlyDictionary<string, string> environment, CancellationToken ct)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = root, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start 'dotnet': is the .NET SDK on PATH?");
        var output = process.StandardOutput.ReadToEndAsync(CancellationToken.None); // the pipes close when the process tree ends
        var error = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            await process.WaitForExitAsync(ct);
        }
        catch (OperationCanceledException)
        {
            // The test host and a Local server it started would outlive it: end the whole tree.
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            throw;
        }

        var elapsed = clock.Elapsed.TotalMilliseconds;
        var log = await output + await error;
        var counts = Counts().Match(log);
        return new SuiteRun(elapsed,
            counts.Success ? int.Parse(counts.Groups["passed"].Value, System.Globalization.CultureInfo.InvariantCulture) : 0,
            counts.Success ? int.Parse(counts.Groups["failed"].Value, System.Globalization.CultureInfo.InvariantCulture) : 0,
            process.ExitCode, log);
    }

    public static string Tail(string log, int lines = 30) => string.Join('\n', log.Split('\n').TakeLast(lines));

    // dotnet test's summary line: "Passed!  - Failed:     0, Passed:   500, Skipped: ..."
    [GeneratedRegex(@"Failed:\s+(?<failed>\d+),\s+Passed:\s+(?<passed>\d+)")]
    private static partial Regex Counts();
}
