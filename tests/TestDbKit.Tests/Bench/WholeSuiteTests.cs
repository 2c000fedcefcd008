using System.Text.RegularExpressions;
using TestDbKit.Benchmarks;
using TestDbKit.Servers;
using Xunit.Abstractions;

namespace TestDbKit.Tests.Bench;

/// <summary>
/// The whole-suite bench's CI form (issue 17): a small generated suite (<see cref="GeneratedSuite"/>), built once, run
/// as real <c>dotnet test</c> processes, one round per engine: the kit on Local, and where Docker answers the kit on
/// Docker, the Testcontainers recipe with Respawn's defaults and the recipe with a rolled-back transaction per test.
/// Every generated test must pass in every variant, each test host's trace must be read, and the bench's tables must
/// be printed. The one-test loop (<c>bench loop</c>) runs one round on the same build. Nothing here is timed: the
/// long forms (<c>bench suite</c>, <c>bench loop</c>, README "Numbers") give the figures. The code is the bench's
/// (<c>bench/TestDbKit.Benchmarks/WholeSuite.cs</c>, <c>Suite*.cs</c>, <c>Loop.cs</c>, linked): one source.
/// </summary>
[Trait("Category", "Docker")] // the kit on Docker and the recipes; without Docker the kit on Local runs, then the test skips
public sealed class WholeSuiteTests(GeneratedSuite suite, ITestOutputHelper output) : IClassFixture<GeneratedSuite>
{
    private static readonly string[] Kinds = ["writes", "reads", "violates_unique", "aborts_transaction"];

    [SkippableTheory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Every_generated_test_passes_in_every_variant_and_the_bench_reads_the_traces_and_prints_its_tables(DbEngine engine)
    {
        // The premise: the suite holds every kind of test the bench's suite has, and both projects built.
        Assert.All(Kinds, kind => Assert.Contains($"_{kind}()", suite.Code, StringComparison.Ordinal));
        Assert.Contains("built Recipe", suite.BuildOutput, StringComparison.Ordinal);

        var dockerWhy = await DockerProbe.WhyUnavailableAsync();
        var variants = SuiteVariant.For(engine, dockerWhy is null, ["--variants", "local,docker,respawn,rollback"]);
        var rounds = new SuiteRounds(GeneratedSuite.Tests, new Dictionary<DbEngine, IReadOnlyList<SuiteVariant>> { [engine] = variants });
        using var log = new StringWriter();
        using var budget = new CancellationTokenSource(TimeSpan.FromMinutes(5)); // a hung child fails the test, not CI
        try
        {
            await rounds.RunRoundAsync(suite.Root, 1, log, budget.Token);
            rounds.Summarise(log);
            await WholeSuite.KitPhasesAsync(engine, log);
        }
        finally
        {
            output.WriteLine(suite.BuildOutput);
            output.WriteLine(log.ToString());
        }

        var expected = dockerWhy is null
            ? new[] { "kit Local", "kit Docker", "TC+Respawn default", "TC+rollback per test" }
            : ["kit Local"];
        Assert.Equal(expected, rounds.Runs.Select(r => r.Variant.Name));
        var text = log.ToString();
        foreach (var (_, _, variant, run) in rounds.Runs)
        {
            // Every generated test and the runner's floor passed, as dotnet test's summary line counts them.
            Assert.True(rounds.AllPassed(run), $"{variant.Name}: {run.Passed}/{GeneratedSuite.Tests + 1} passed, {run.Failed} failed, exit {run.ExitCode}\n{SuiteRunner.Tail(run.Log)}");

            // The test host's trace was read: one body per generated test, and its phases in order.
            var trace = run.Trace;
            Assert.True(trace is not null, $"{variant.Name}: the test host wrote no trace, or the bench did not read it");
            Assert.Equal(GeneratedSuite.Tests, trace.Bodies);
            Assert.True(trace.ToFirstBody > 0 && trace.TestsPhase > 0 && trace.BodySum > 0 && trace.Teardown > 0, $"{variant.Name}: {trace}");

            // Its rows in both tables: wall time with the ratio to the kit on Local, and where the time went.
            var name = Regex.Escape(variant.Name);
            Assert.Matches(new Regex($@"^{engine}\s+{name}\s+[\d.,]+\s+[\d.,]+–[\d.,]+\s+[\d.,]+x\s+[\d.,]+–[\d.,]+\s*$", RegexOptions.Multiline), text);
            Assert.Matches(new Regex($@"^{engine}\s+{name}\s+[-\d.,]+ s\s+[\d.,]+ s\s+[\d.,]+ s\s+[\d.,]+ ms\s+[\d.,]+ ms\s+[\d.,]+ s\s*$", RegexOptions.Multiline), text);
        }

        Assert.Matches(new Regex($@"^{engine}\s+kit Local\s+[\d.,]+\s+[\d.,]+–[\d.,]+\s+1[.,]00x", RegexOptions.Multiline), text);
        Assert.Matches(new Regex(@"^any\s+runner floor\s+[\d.,]+", RegexOptions.Multiline), text);
        Assert.Contains($"kit phases, {engine}, Local, in-process: server start", text, StringComparison.Ordinal);
        Assert.False(rounds.Failed);

        Skip.If(dockerWhy is not null, $"Only the kit on Local ran and passed: no Docker engine ({dockerWhy}), so the kit on Docker and the Testcontainers recipes were not run. The Docker lane of scripts/test.sh starts one.");
    }

    /// <summary>On PostgreSQL only, to keep the class within its CI budget: the loop's own code (the first body's mark,
    /// the kept server's cold and warm runs, its table) does not depend on the engine, and the theory above runs the
    /// same generated projects on both.</summary>
    [SkippableFact]
    public async Task The_one_test_loop_runs_its_one_test_in_every_variant_and_prints_its_table()
    {
        const DbEngine engine = DbEngine.PostgreSql;
        var dockerWhy = await DockerProbe.WhyUnavailableAsync();
        using var log = new StringWriter();
        using var budget = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        bool passed;
        try
        {
            passed = await Loop.MeasureAsync(suite.Root, [engine], rounds: 1, docker: dockerWhy is null, log, budget.Token);
        }
        finally
        {
            output.WriteLine(log.ToString());
        }

        // Each run passed its one test and its first body left the mark the loop reads (the loop says which did not).
        Assert.True(passed, log.ToString());
        var text = log.ToString();
        var rows = dockerWhy is null
            ? new[] { "kit Local", "kit reuse cold", "kit reuse warm", "TC+Respawn default" }
            : ["kit Local", "kit reuse cold", "kit reuse warm"];
        Assert.Matches(new Regex(@"^any\s+runner floor\s+[\d.,]+ \(", RegexOptions.Multiline), text);
        Assert.All(rows, row => Assert.Matches(new Regex($@"^{engine}\s+{Regex.Escape(row)}\s+[\d.,]+ \([\d.,]+–[\d.,]+\)", RegexOptions.Multiline), text));
        if (dockerWhy is null)
        {
            Assert.Matches(new Regex($@"^{engine}: to the first test body the recipe takes [\d.,]+x the kit's time$", RegexOptions.Multiline), text);
        }

        Skip.If(dockerWhy is not null, $"Only the kit's rows ran and passed: no Docker engine ({dockerWhy}), so the Testcontainers recipe was not run. The Docker lane of scripts/test.sh starts one.");
    }
}

/// <summary>The generated suite, built once for both engines into a temp folder of its own and removed after.</summary>
public sealed class GeneratedSuite : IAsyncLifetime
{
    /// <summary>Two of the generator's classes (20 and 16 tests); this seed gives every kind of test.</summary>
    public const int Tests = 36;

    private const int Seed = 17;

    /// <summary>The folder the projects are generated and built in.</summary>
    public string Root { get; } = Directory.CreateTempSubdirectory("testdbkit-suite-ci-").FullName;

    /// <summary>The generated tests' code.</summary>
    public string Code { get; private set; } = "";

    /// <summary>What the build printed.</summary>
    public string BuildOutput { get; private set; } = "";

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        try
        {
            SuiteGenerator.Generate(Seed, Tests, Root);
            Code = await File.ReadAllTextAsync(Path.Combine(Root, "Shared", "Tests.g.cs"));
            using var log = new StringWriter();
            using var budget = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            await WholeSuite.BuildAsync(Root, log, budget.Token);
            BuildOutput = log.ToString();
        }
        catch
        {
            Directory.Delete(Root, recursive: true);
            throw;
        }
    }

    /// <inheritdoc />
    public Task DisposeAsync()
    {
        if (Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true);
        }

        return Task.CompletedTask;
    }
}
