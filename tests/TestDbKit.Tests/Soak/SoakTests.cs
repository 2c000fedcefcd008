using TestDbKit.Benchmarks;
using TestDbKit.Options;
using Xunit.Abstractions;

namespace TestDbKit.Tests.Soak;

/// <summary>
/// The soak's CI form (issue 18): the seeded chaos schedule of every fault kind over four writers, in-process on a
/// Local server of its own, 60 s per engine when <c>CI</c> is set (10 s otherwise). The soak's code is the benchmark's
/// (<c>bench/TestDbKit.Benchmarks/Soak*.cs</c>, linked into this project): one source for <c>bench soak</c> and this test.
/// </summary>
[Collection(SoakCollection.Name)]
public sealed class SoakTests(ITestOutputHelper output)
{
    private const int Seed = 18;

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_seeded_chaos_soak_of_every_fault_kind_keeps_the_ledger_and_the_kits_invariants(DbEngine engine)
    {
        var report = await RunAsync(OnLocal(engine) with { Duration = TimeSpan.FromSeconds(KitEnvironment.InCi ? 60 : 10) });

        // The premise: the faults happened while the writers wrote, and the ledger was checked against the table.
        Assert.True(report.FaultsInjected >= 5, report.Summary);
        Assert.NotNull(report.Ledger);
        Assert.True(report.Ledger.Acknowledged > 100, report.Summary);
        Assert.True(report.Passed, report.Summary);
        Assert.Equal((0, 0), (report.Lost, report.Duplicated));
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_writer_that_retries_blindly_after_ambiguous_commits_fails_the_soak_with_duplicated_writes(DbEngine engine)
    {
        var report = await RunAsync(OnLocal(engine) with { Duration = TimeSpan.FromSeconds(5), Kinds = ["ambiguous-commit"], BlindRetry = true });

        Assert.True(report.Kinds["ambiguous-commit"].Injected >= 3, report.Summary); // the premise: COMMITs whose reply was lost
        Assert.False(report.Passed, report.Summary);
        Assert.True(report.Duplicated > 0, report.Summary);
        Assert.Contains(report.Failures, f => f.StartsWith("ledger: The write ledger is broken", StringComparison.Ordinal));
    }

    private static SoakOptions OnLocal(DbEngine engine) => new() { Engine = engine, Provider = DbServerProvider.Local, Seed = Seed };

    private async Task<SoakReport> RunAsync(SoakOptions options)
    {
        using var log = new StringWriter();
        var synchronized = TextWriter.Synchronized(log); // the fault loop writes from its own task
        try
        {
            return await SoakRun.RunAsync(options, synchronized);
        }
        finally
        {
            output.WriteLine(log.ToString());
        }
    }
}

/// <summary>The soak measures this process's heap and file descriptors: nothing else of the project may run beside it.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SoakCollection
{
    public const string Name = "Soak";
}
