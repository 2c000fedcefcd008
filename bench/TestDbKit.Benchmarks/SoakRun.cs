using System.Diagnostics;
using System.Globalization;
using System.Text;
using TestDbKit.Faults;

namespace TestDbKit.Benchmarks;

/// <summary>What a soak found: its figures, and every check that failed (none: the run passed).</summary>
internal sealed class SoakReport
{
    public List<string> Failures { get; } = [];

    public WriteLedgerResult? Ledger { get; set; }

    public int FaultsInjected { get; set; }

    public IReadOnlyDictionary<string, SoakKindTally> Kinds { get; set; } = new Dictionary<string, SoakKindTally>();

    public string Summary { get; set; } = "";

    public bool Passed => Failures.Count == 0;

    public int Duplicated => Ledger?.Of(LedgerViolationKind.Duplicated).Count ?? 0;

    public int Lost => Ledger?.Of(LedgerViolationKind.Lost).Count ?? 0;
}

/// <summary>
/// One soak: a Local or Docker server of its own, a database from a <see cref="DatabasePool"/> on it, writers through
/// the kit's network proxy, and the seeded schedule of every fault kind of the catalogue; then the ledger against the
/// table, and the kit's invariants (faults undone, no leaked session, no stray database, no orphan process or
/// container, memory and descriptors flat). <c>bench soak</c> prints the summary; the CI test asserts
/// <see cref="SoakReport.Passed"/>.
/// </summary>
internal static class SoakRun
{
    /// <summary>After the last fault, how long the writers get to acknowledge a write again.</summary>
    private static readonly TimeSpan RecoveryPatience = TimeSpan.FromSeconds(90);

    public static async Task<SoakReport> RunAsync(SoakOptions options, TextWriter output, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var report = new SoakReport();
        var kinds = SoakSchedule.Kinds(options.Kinds);
        output.WriteLine($"soak: {options} (replay: dotnet run -c Release --project bench/TestDbKit.Benchmarks -- {options})");
        output.WriteLine($"schedule: seed {options.Seed}, fingerprint {SoakSchedule.Fingerprint(options)} (the same seed gives the same fingerprint); rounds of {kinds.Count} kinds: {string.Join(", ", kinds.Select(k => k.Name))}");
        var before = SoakFootprint.Now();
        var clock = Stopwatch.StartNew();

        var server = await DbServer.StartAsync(options.Engine, new DbServerOptions { Provider = options.Provider }, ct).ConfigureAwait(false);
        var folder = server.Instance.Folder;
        var description = server.ToString();
        output.WriteLine($"server: {description} (started in {clock.Elapsed.TotalSeconds:0.0} s)");
        SoakFootprint start = default, end = default;
        SoakRecovery recovery = new();
        SoakWriters? writers = null;
        SoakFaults? faults = null;
        try
        {
            var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions
            {
                MaxDatabases = 1,
                CreateSchema = async connection =>
                {
                    await using var command = connection.CreateCommand();
                    command.CommandText = SoakWriters.Schema;
                    await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                },
            }, ct).ConfigureAwait(false);
            await using (pool.ConfigureAwait(false))
            {
                var db = await pool.LeaseAsync(ct).ConfigureAwait(false);
                await using (db.ConfigureAwait(false))
                {
                    (writers, faults, start, end) = await SoakAsync(options, db, recovery, report, output, ct).ConfigureAwait(false);
                    await CheckAsync(report, "stray databases", () => SoakChecks.NoStrayDatabaseAsync(db, ct)).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            await server.DisposeAsync().ConfigureAwait(false);
        }

        await CheckAsync(report, "orphans", () => SoakChecks.NoOrphanAsync(options.Provider, folder, description, ct)).ConfigureAwait(false);
        var after = SoakFootprint.Now();
        report.Summary = Summarize(options, report, writers!, faults!, recovery, (before, start, end, after), clock.Elapsed);
        output.WriteLine(report.Summary);
        return report;
    }

    private static async Task<(SoakWriters, SoakFaults, SoakFootprint Start, SoakFootprint End)> SoakAsync(
        SoakOptions options, TestDatabase db, SoakRecovery recovery, SoakReport report, TextWriter output, CancellationToken ct)
    {
        var dialect = db.Server.Dialect;
        var ledger = new WriteLedger();
        var writers = new SoakWriters(dialect, db.Faults.Network.ConnectionString, ledger, recovery, options);
        var timeouts = await SoakChecks.TimeoutsAsync(db, ct).ConfigureAwait(false);
        var sessions = await SoakChecks.SessionsAsync(db, ct).ConfigureAwait(false);

        using var stopWriting = new CancellationTokenSource();
        var writing = writers.RunAsync(stopWriting.Token);
        var faults = new SoakFaults(db, writers, recovery, output);
        SoakFootprint start, end;
        try
        {
            // Warm: every writer's pool and the proxy are up before the footprint the end is compared with.
            await UntilAsync(() => writers.AcknowledgedCount >= options.Writers * 5, writing, TimeSpan.FromSeconds(60), "the writers' first writes").ConfigureAwait(false);
            start = SoakFootprint.Now();
            using (var stopFaults = new CancellationTokenSource(options.Duration))
            {
                await faults.RunAsync(SoakSchedule.Plan(options), stopFaults.Token).ConfigureAwait(false);
            }

            // The last fault's recovery too: the writers go on until one acknowledges a write after it.
            var last = faults.LastEnded;
            try
            {
                await UntilAsync(() => recovery.LastAcknowledged > last, writing, RecoveryPatience, "write acknowledged after the last fault").ConfigureAwait(false);
            }
            catch (TimeoutException e)
            {
                report.Failures.Add($"recovery: {e.Message}"); // the checks below say what was left broken
            }
        }
        finally
        {
            await stopWriting.CancelAsync().ConfigureAwait(false);
        }

        await writing.ConfigureAwait(false);
        report.FaultsInjected = faults.Injected;
        report.Kinds = faults.Tallies;

        await CheckAsync(report, "ledger", async () =>
        {
            await using var direct = await SoakChecks.OpenAsync(dialect, db.ConnectionString, ct).ConfigureAwait(false);
            report.Ledger = await ledger.CheckAsync(direct, SoakWriters.Stored, ct).ConfigureAwait(false);
            return report.Ledger.IsConsistent ? null : report.Ledger.ToString();
        }).ConfigureAwait(false);

        foreach (var (kind, tally) in faults.Tallies)
        {
            Check(report, "faults undone", tally.UndoFailed == 0 ? null : $"{tally.UndoFailed} {kind} fault(s) not undone: {tally.LastError}");
            Check(report, "faults injected", tally.Injected > 0 ? null : $"{kind} was never injected ({tally.NotInjected} attempt(s)): {tally.LastError}");
        }

        if (options.Duration >= TimeSpan.FromMinutes(1))
        {
            var never = SoakSchedule.Kinds(options.Kinds).Where(k => !faults.Tallies.ContainsKey(k.Name)).Select(k => k.Name).ToList();
            Check(report, "every kind", never.Count == 0 ? null : $"kinds the schedule did not reach in {options.Duration.TotalSeconds:0} s: {string.Join(", ", never)}");
        }

        await CheckAsync(report, "timeouts back", async () => await SoakChecks.TimeoutsAsync(db, ct).ConfigureAwait(false) is var now && now == timeouts ? null
            : $"a new session's idle timeouts are {now}, {timeouts} before the soak").ConfigureAwait(false);
        await CheckAsync(report, "writable", () => WritableAsync(db, ct)).ConfigureAwait(false);
        await CheckAsync(report, "not frozen", () => SoakChecks.NotFrozenAsync(db.Server, ct)).ConfigureAwait(false);
        await CheckAsync(report, "proxy clean", () => SoakChecks.ProxyCleanAsync(dialect, writers.ConnectionString, db.ConnectionString, ct)).ConfigureAwait(false);
        db.Server.ClearPools();
        await CheckAsync(report, "leaked sessions", () => SoakChecks.NoLeakedSessionAsync(db, sessions, ct)).ConfigureAwait(false);
        end = SoakFootprint.Now();
        var allowed = SoakFootprint.HeapTolerance + (SoakFootprint.HeapPerWrite * ledger.Writes.Count);
        Check(report, "memory", end.HeapBytes - start.HeapBytes <= allowed ? null
            : $"the heap grew {(end.HeapBytes - start.HeapBytes) / 1048576.0:0.0} MB (tolerance {allowed / 1048576.0:0.0} MB: {SoakFootprint.HeapTolerance >> 20} MB and {SoakFootprint.HeapPerWrite} B per write): {start} -> {end}");
        Check(report, "file descriptors", end.FileDescriptors - start.FileDescriptors <= SoakFootprint.FileDescriptorTolerance ? null
            : $"{end.FileDescriptors - start.FileDescriptors} more fds (tolerance {SoakFootprint.FileDescriptorTolerance}): {start} -> {end}");
        return (writers, faults, start, end);
    }

    private static async Task<string?> WritableAsync(TestDatabase db, CancellationToken ct)
    {
        try
        {
            await using var connection = await SoakChecks.OpenAsync(db.Server.Dialect, db.ConnectionString, ct).ConfigureAwait(false);
            await SoakChecks.ProbeWriteAsync(connection, ct).ConfigureAwait(false);
            return null;
        }
        catch (System.Data.Common.DbException e)
        {
            return $"a new session cannot write: {e.Message.Split('\n')[0]}";
        }
    }

    /// <summary>Runs one check; one that cannot even run (the server does not answer) fails with what it met, and the
    /// other checks still run.</summary>
    private static async Task CheckAsync(SoakReport report, string what, Func<Task<string?>> check)
    {
        string? problem;
        try
        {
            problem = await check().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            problem = $"could not check: {e.GetType().Name}: {e.Message.Split('\n')[0]}";
        }

        Check(report, what, problem);
    }

    private static void Check(SoakReport report, string what, string? problem)
    {
        if (problem is not null)
        {
            report.Failures.Add($"{what}: {problem}");
        }
    }

    /// <summary>Polls <paramref name="condition"/>; a writer that died meanwhile ends the soak with its error.</summary>
    private static async Task UntilAsync(Func<bool> condition, Task writing, TimeSpan patience, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (writing.IsCompleted)
            {
                await writing.ConfigureAwait(false);
                throw new InvalidOperationException($"The writers stopped before {what}.");
            }

            if (clock.Elapsed > patience)
            {
                throw new TimeoutException($"No {what} within {patience.TotalSeconds:0} s.");
            }

            await Task.Delay(10).ConfigureAwait(false);
        }
    }

    private static string Summarize(SoakOptions options, SoakReport report, SoakWriters writers, SoakFaults faults, SoakRecovery recovery,
        (SoakFootprint Before, SoakFootprint Start, SoakFootprint End, SoakFootprint After) footprint, TimeSpan took)
    {
        var text = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        text.AppendLine(inv, $"== soak {options.Engine} on {options.Provider}: {options.Duration.TotalSeconds:0} s of faults, seed {options.Seed}, {options.Writers} writers{(options.BlindRetry ? ", BLIND retries" : "")}; {took.TotalSeconds:0} s in all");
        text.AppendLine(inv, $"faults: {report.FaultsInjected} injected, {faults.Tallies.Values.Sum(t => t.NotInjected)} not injected, {faults.Tallies.Values.Sum(t => t.UndoFailed)} not undone");
        foreach (var (kind, tally) in faults.Tallies)
        {
            text.AppendLine(inv, $"  {kind,-22} {tally.Injected,5}{(tally.NotInjected > 0 ? $"  ({tally.NotInjected} not injected: {tally.LastError})" : "")}");
        }

        if (report.Ledger is { } l)
        {
            text.AppendLine(inv, $"writes: {l.Writes} begun, {l.Acknowledged} acknowledged, {l.Failed} failed, {l.Unknown} unknown ({l.UnknownApplied} applied, {l.UnknownNotApplied} not), {l.Pending} pending; {writers.Retries} retries, {writers.FoundStored} of which found the key stored by an attempt whose reply was lost");
            text.AppendLine(inv, $"ledger: lost {report.Lost}, duplicated {report.Duplicated}, failed but applied {l.Of(LedgerViolationKind.FailedButApplied).Count}, unresolved {l.Of(LedgerViolationKind.Unresolved).Count}");
        }

        var times = recovery.Milliseconds.Order().ToArray();
        text.AppendLine(times.Length == 0 ? "recovery: none measured" : string.Create(inv,
            $"recovery (a fault's end to the next acknowledged write): p50 {Percentile(times, 0.50):0} ms, p99 {Percentile(times, 0.99):0} ms, max {times[^1]:0} ms over {times.Length} faults"));
        text.AppendLine(inv, $"footprint: before the server {footprint.Before}; after warm-up {footprint.Start}; at the end {footprint.End}; after disposal {footprint.After}");
        text.AppendLine("errors the writers met:");
        foreach (var (error, count) in writers.Errors.OrderByDescending(e => e.Value).Take(12))
        {
            text.AppendLine(inv, $"  {count,6} x {error}");
        }

        text.Append(report.Passed ? "PASSED: every check holds" : "FAILED:\n  " + string.Join("\n  ", report.Failures));
        return text.ToString();
    }

    /// <summary>Nearest rank.</summary>
    private static double Percentile(double[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
