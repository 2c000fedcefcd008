using System.Diagnostics;
using System.Globalization;
using System.Text;
using TestDbKit.Diagnostics;

namespace TestDbKit;

/// <summary>
/// What a test process did with the kit so far: tests, faults injected by kind, client errors by
/// classification, recoveries and their time to recover, and the chaos seeds to replay them. With
/// <c>TESTDBKIT_REPORT_DIR</c> set, every process that uses the kit writes <c>NAME.txt</c> (this summary)
/// and <c>NAME.html</c> there at exit, NAME being the test assembly's name.
/// </summary>
/// <example>
/// <code>
/// var report = RunReport.Capture();
/// Console.WriteLine(report);                       // the text summary
/// await report.WriteHtmlAsync("chaos.html");       // self-contained, with a timeline chart
/// </code>
/// </example>
public sealed class RunReport
{
    private RunReport(string name, DateTimeOffset started, TimeSpan elapsed)
    {
        Name = name;
        Started = started;
        Elapsed = elapsed;
    }

    /// <summary>The process's name in reports: the test assembly's, or the entry assembly's.</summary>
    public string Name { get; }

    /// <summary>When the kit was first used in the process.</summary>
    public DateTimeOffset Started { get; }

    /// <summary>From <see cref="Started"/> to the capture.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>Tests that ran a kit session (xunit or NUnit base class) to its end.</summary>
    public int Tests { get; private init; }

    /// <summary>Tests whose connection was broken or killed at their end, and was discarded.</summary>
    public int DiscardedConnections { get; private init; }

    /// <summary>Connections tests left open, closed by the kit.</summary>
    public int LeakedConnections { get; private init; }

    /// <summary>What each test that leaked connections left, by test name.</summary>
    public IReadOnlyList<string> Leaks { get; private init; } = [];

    /// <summary>Faults injected, by kind by the fault catalogue's name (e.g. "kill": 12).</summary>
    public IReadOnlyDictionary<string, int> FaultsByKind { get; private init; } = new Dictionary<string, int>();

    /// <summary>Errors the clients met (asked of <see cref="DbErrors"/> or seen inside
    /// <c>Resilience.AssertRecoversAsync</c>), by classification: connection lost, transaction
    /// aborted, integrity violation, other transient, not transient.</summary>
    public IReadOnlyDictionary<string, int> ErrorsByClassification { get; private init; } = new Dictionary<string, int>();

    /// <summary>Times to recover: from the first error (or fault) to the operation's success.</summary>
    public IReadOnlyList<TimeSpan> RecoveryTimes { get; private init; } = [];

    /// <summary>Operations that did not recover within their budget.</summary>
    public int FailedRecoveries { get; private init; }

    /// <summary>Chaos seeds used, to replay a run (<c>TESTDBKIT_CHAOS_SEED</c>, <c>testdbkit chaos --seed</c>).</summary>
    public IReadOnlyList<int> Seeds { get; private init; } = [];

    internal IReadOnlyList<FaultEvent> Faults { get; private init; } = [];

    internal IReadOnlyList<RunError> Errors { get; private init; } = [];

    internal IReadOnlyList<RunRecovery> Recoveries { get; private init; } = [];

    internal IReadOnlyList<RunSeed> SeedSources { get; private init; } = [];

    internal long StartedTimestamp { get; private init; }

    /// <summary>The report of this process so far.</summary>
    public static RunReport Capture() => Capture(RunLog.Book);

    /// <summary>The report of one book: the process's, or a <see cref="RunScope"/>'s.</summary>
    internal static RunReport Capture(RunBook book)
    {
        var recoveries = book.Recoveries;
        var seeds = book.Seeds;
        return new RunReport(RunLog.ProcessName, book.Started, Stopwatch.GetElapsedTime(book.StartedTimestamp))
        {
            Tests = book.Tests,
            DiscardedConnections = book.DiscardedConnections,
            LeakedConnections = book.LeakedConnections,
            Leaks = book.Leaks,
            FaultsByKind = book.FaultCounts,
            ErrorsByClassification = book.ErrorCounts,
            RecoveryTimes = [.. recoveries.Where(r => r.Recovered).Select(r => r.TimeToRecover)],
            FailedRecoveries = recoveries.Count(r => !r.Recovered),
            Seeds = [.. seeds.Select(s => s.Seed).Distinct()],
            Faults = book.Faults,
            Errors = book.Errors,
            Recoveries = recoveries,
            SeedSources = seeds,
            StartedTimestamp = book.StartedTimestamp,
        };
    }

    /// <summary>Recoveries grouped by the test they ran in (and its engine), the tests with failed recoveries first, then
    /// by count: who recovered how often and how fast. Recoveries outside a test of the base classes (a chaos run of the
    /// tool) form one group with a null <see cref="TestRecoveries.Test"/>.</summary>
    public IReadOnlyList<TestRecoveries> RecoveriesByTest =>
    [
        .. Recoveries.GroupBy(r => (r.Test, r.Engine)).Select(g =>
        {
            var times = g.Where(r => r.Recovered).Select(r => r.TimeToRecover).Order().ToList();
            return new TestRecoveries(g.Key.Test, g.Key.Engine, times.Count, g.Count(r => !r.Recovered),
                times.Count == 0 ? null : times[(times.Count - 1) / 2], times.Count == 0 ? null : times[^1]);
        }).OrderByDescending(t => t.Failed).ThenByDescending(t => t.Recovered).ThenBy(t => t.Test, StringComparer.Ordinal),
    ];

    /// <summary>The median time to recover (p50, nearest rank: of an even count, the lower of the middle two),
    /// or null when nothing had to recover.</summary>
    public TimeSpan? MedianRecoveryTime => RecoveryTimes.Count == 0 ? null : RecoveryTimes.Order().ElementAt((RecoveryTimes.Count - 1) / 2);

    /// <summary>The longest time to recover, or null when nothing had to recover.</summary>
    public TimeSpan? MaxRecoveryTime => RecoveryTimes.Count == 0 ? null : RecoveryTimes.Max();

    /// <summary>Writes the report as one self-contained HTML page (no scripts, fonts or style sheets from
    /// elsewhere): the summary, a timeline chart of faults, errors and recoveries, and the seeds.</summary>
    /// <param name="path">The file to write; its folder is created.</param>
    /// <param name="ct">Cancels the write.</param>
    public async Task WriteHtmlAsync(string path, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } folder)
        {
            Directory.CreateDirectory(folder);
        }

        await File.WriteAllTextAsync(path, RunReportHtml.Render(this), ct).ConfigureAwait(false);
    }

    /// <summary>The short text summary: tests, faults by kind, recoveries (count, p50, max), errors by
    /// classification, seeds.</summary>
    public override string ToString()
    {
        var inv = CultureInfo.InvariantCulture;
        var text = new StringBuilder();
        text.AppendLine(inv, $"TestDbKit run report: {Name} (started {Started:yyyy-MM-dd HH:mm:ss}Z, {Elapsed.TotalSeconds:0.0} s)");
        text.AppendLine(inv, $"Tests (base classes): {Tests} (connections discarded: {DiscardedConnections}, leaked: {LeakedConnections})");
        text.AppendLine(inv, $"Faults injected: {FaultsByKind.Values.Sum()}{Counts(FaultsByKind)}");
        text.Append(inv, $"Recoveries: {RecoveryTimes.Count}");
        if (MedianRecoveryTime is { } p50 && MaxRecoveryTime is { } max)
        {
            text.Append(inv, $" (time to recover p50 {Milliseconds(p50)}, max {Milliseconds(max)})");
        }

        text.AppendLine(inv, $"; failed: {FailedRecoveries}");
        var byTest = RecoveriesByTest;
        foreach (var t in byTest.Take(10))
        {
            text.Append(inv, $"  {t.Test ?? RunReportHtml.NoTest} ({RunReportHtml.EngineName(t.Engine)}): {t.Recovered} recovered");
            text.Append(t.Median is { } median && t.Max is { } longest ? string.Create(inv, $", p50 {Milliseconds(median)}, max {Milliseconds(longest)}") : "");
            text.AppendLine(t.Failed > 0 ? string.Create(inv, $", {t.Failed} failed") : "");
        }

        if (byTest.Count > 10)
        {
            text.AppendLine(inv, $"  ... and {byTest.Count - 10} more tests (see the HTML report)");
        }

        text.AppendLine(inv, $"Client errors: {ErrorsByClassification.Values.Sum()}{Counts(ErrorsByClassification)}");
        foreach (var leak in Leaks.Take(10))
        {
            text.AppendLine("Leak: " + leak);
        }

        if (Leaks.Count > 10)
        {
            text.AppendLine(inv, $"Leak: ... and {Leaks.Count - 10} more tests (see the HTML report)");
        }

        text.AppendLine("Chaos seeds: " + (SeedSources.Count == 0
            ? "none"
            : string.Join(", ", SeedSources.DistinctBy(s => (s.Seed, s.Source)).Select(s => string.Create(inv, $"{s.Seed} ({s.Source})")))));
        return text.ToString();
    }

    internal static string Milliseconds(TimeSpan time) =>
        time.TotalMilliseconds < 10 ? time.TotalMilliseconds.ToString("0.0 'ms'", CultureInfo.InvariantCulture)
        : time.TotalMilliseconds.ToString("0 'ms'", CultureInfo.InvariantCulture);

    private static string Counts(IReadOnlyDictionary<string, int> counts) => counts.Count == 0
        ? ""
        : " (" + string.Join(", ", counts.OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal)
            .Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Key} {c.Value}"))) + ")";
}

/// <summary>The recoveries of one test (<see cref="RunReport.RecoveriesByTest"/>).</summary>
public sealed class TestRecoveries
{
    internal TestRecoveries(string? test, DbEngine? engine, int recovered, int failed, TimeSpan? median, TimeSpan? max)
    {
        Test = test;
        Engine = engine;
        Recovered = recovered;
        Failed = failed;
        Median = median;
        Max = max;
    }

    /// <summary>The test's full name, or null for recoveries outside a test of the base classes.</summary>
    public string? Test { get; }

    /// <summary>The test's engine, or null when unknown.</summary>
    public DbEngine? Engine { get; }

    /// <summary>Operations that recovered.</summary>
    public int Recovered { get; }

    /// <summary>Operations that did not recover within their budget.</summary>
    public int Failed { get; }

    /// <summary>The median time to recover (nearest rank), or null when none recovered.</summary>
    public TimeSpan? Median { get; }

    /// <summary>The longest time to recover, or null when none recovered.</summary>
    public TimeSpan? Max { get; }
}
