using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using TestDbKit.Engines;

namespace TestDbKit.Diagnostics;

/// <summary>
/// What this process did with the kit, for <see cref="RunReport"/>: tests ended, client errors by
/// classification, recoveries and their time to recover, chaos seeds (faults are in <see cref="FaultLog"/>).
/// With <c>TESTDBKIT_REPORT_DIR</c> set, it writes the report there when the process exits.
/// </summary>
internal static class RunLog
{
    private const int MaxKept = 5_000;
    private static readonly ConcurrentQueue<RunError> Errors = new();
    private static readonly ConcurrentQueue<RunRecovery> Recoveries = new();
    private static readonly ConcurrentQueue<RunSeed> Seeds = new();
    private static readonly ConcurrentDictionary<string, int> ErrorCounts = new(StringComparer.Ordinal);
    private static readonly ConditionalWeakTable<Exception, object> Counted = [];
    private static int _tests;
    private static int _discarded;
    private static int _leaked;
    private static int _exitHooked;

    /// <summary>When the kit was first used in this process.</summary>
    public static long StartedTimestamp { get; } = Stopwatch.GetTimestamp();

    public static DateTimeOffset Started { get; } = DateTimeOffset.UtcNow;

    public static int Tests => _tests;

    public static int DiscardedConnections => _discarded;

    public static int LeakedConnections => _leaked;

    /// <summary>The report name for this process: the test assembly's name, else the entry assembly's.</summary>
    public static string ProcessName => Name ?? FindName();

    /// <summary>A name chosen by the process itself (the tool's chaos command), over the one found.</summary>
    public static string? Name { get; set; }

    /// <summary>Whether the report is written at exit when <c>TESTDBKIT_REPORT_DIR</c> is set; commands of the
    /// tool that are no test run (serve, doctor) turn it off.</summary>
    public static bool WriteAtExit { get; set; } = true;

    /// <summary>Registers the exit hook as soon as the kit is loaded, so every test process that uses it writes
    /// its report, whatever it used first.</summary>
    [ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "The report must be written by every process that loads the kit, whichever of its types it touches first.")]
    internal static void HookExit()
    {
        if (Environment.GetEnvironmentVariable("TESTDBKIT_REPORT_DIR") is { Length: > 0 } && Interlocked.Exchange(ref _exitHooked, 1) == 0)
        {
            // Test hosts end through a normal exit, which runs ProcessExit handlers, but vstest kills its testhost
            // 100 ms after asking it to end (VSTEST_TESTHOST_SHUTDOWN_TIMEOUT): too short to count on. So the
            // report is also written in the background shortly after each change, and the exit only refreshes it.
            Checkpoints = new Timer(_ => WriteToReportDir(fromCheckpoint: true));
            AppDomain.CurrentDomain.ProcessExit += (_, _) => WriteToReportDir(fromCheckpoint: false);
        }
    }

    private static Timer? Checkpoints { get; set; }

    private static readonly Lock WriteGate = new();
    private static int _dirty;
    private static TimeSpan _lastWrite;

    /// <summary>Something was recorded: write the report soon, in the background. Bursts (a chaos run, a suite
    /// of short tests) coalesce into one write; the pause grows with what a write costs.</summary>
    public static void Changed()
    {
        if (Checkpoints is { } timer && Interlocked.Exchange(ref _dirty, 1) == 0)
        {
            var wait = TimeSpan.FromMilliseconds(Math.Max(50, 5 * _lastWrite.TotalMilliseconds));
            try
            {
                timer.Change(wait, Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
                // The process is ending.
            }
        }
    }

    public static void TestEnded(bool connectionDiscarded, int leakedConnections, string? leakReport = null)
    {
        Interlocked.Increment(ref _tests);
        if (connectionDiscarded)
        {
            Interlocked.Increment(ref _discarded);
        }

        Interlocked.Add(ref _leaked, leakedConnections);
        if (leakReport is not null && Leaks.Count < MaxLeakReports)
        {
            Leaks.Enqueue(leakReport); // by test name: xunit v2 shows a test's console output nowhere
        }

        Changed();
    }

    private const int MaxLeakReports = 100;

    private static readonly ConcurrentQueue<string> Leaks = new();

    /// <summary>What each test that leaked connections left, by test name (the first hundred).</summary>
    public static IReadOnlyList<string> LeaksSoFar => [.. Leaks];

    /// <summary>Counts an error a client met, once per exception object however often it is asked about.</summary>
    public static void ClientError(Exception error)
    {
        if (Counted.TryAdd(error, Counted))
        {
            var classification = Classification(error);
            ErrorCounts.AddOrUpdate(classification, 1, (_, n) => n + 1);
            Keep(Errors, new RunError(Stopwatch.GetTimestamp(), DateTimeOffset.UtcNow, classification, error.GetType().Name, Shorten(error.Message)));
            Changed();
        }
    }

    public static void Recovery(TimeSpan timeToRecover, bool recovered, string what)
    {
        Keep(Recoveries, new RunRecovery(Stopwatch.GetTimestamp(), DateTimeOffset.UtcNow, timeToRecover, recovered, what));
        Changed();
    }

    public static void Seed(int seed, string source)
    {
        Seeds.Enqueue(new RunSeed(seed, source));
        Changed();
    }

    public static IReadOnlyList<RunError> ErrorsSoFar => [.. Errors];

    public static IReadOnlyDictionary<string, int> ErrorCountsSoFar => new Dictionary<string, int>(ErrorCounts, StringComparer.Ordinal);

    public static IReadOnlyList<RunRecovery> RecoveriesSoFar => [.. Recoveries];

    public static IReadOnlyList<RunSeed> SeedsSoFar => [.. Seeds];

    /// <summary>One label per error, the most telling first: a lost connection explains an aborted transaction.</summary>
    public static string Classification(Exception error)
    {
        var kind = DbErrors.Classify(error);
        return (kind & ErrorKind.IntegrityViolation) != 0 ? "integrity violation"
            : (kind & ErrorKind.ConnectionLost) != 0 ? "connection lost"
            : (kind & ErrorKind.TransactionAborted) != 0 ? "transaction aborted"
            : (kind & ErrorKind.Transient) != 0 ? "other transient"
            : "not transient";
    }

    /// <summary>Writes <c>NAME.txt</c> and <c>NAME.html</c> into <c>TESTDBKIT_REPORT_DIR</c>. Runs in the exit
    /// handler, where nothing can be awaited and nothing may throw.</summary>
    internal static void WriteToReportDir(bool fromCheckpoint)
    {
        if (!WriteAtExit || Environment.GetEnvironmentVariable("TESTDBKIT_REPORT_DIR") is not { Length: > 0 } dir)
        {
            return;
        }

        lock (WriteGate)
        {
            Interlocked.Exchange(ref _dirty, 0);
            var started = Stopwatch.GetTimestamp();
            try
            {
                var report = RunReport.Capture();
                Directory.CreateDirectory(dir);
                var path = Path.Combine(dir, FileNameOf(report.Name));
                Replace(path + ".txt", report.ToString());
                Replace(path + ".html", RunReportHtml.Render(report));
            }
            catch (Exception e)
            {
                // Whatever went wrong, a report must never take down the test process: this runs on a timer
                // thread or in the exit handler, where an exception would end the process.
                if (!fromCheckpoint)
                {
                    Console.Error.WriteLine($"[TestDbKit] could not write the run report to TESTDBKIT_REPORT_DIR='{dir}': {e.Message}");
                }
            }

            _lastWrite = Stopwatch.GetElapsedTime(started);
        }

        // A process killed in the middle of a write leaves the previous report whole: write aside, then rename.
        static void Replace(string path, string content)
        {
            var temporary = $"{path}.{Environment.ProcessId}.tmp";
            File.WriteAllText(temporary, content);
            File.Move(temporary, path, overwrite: true);
        }
    }

    internal static string FileNameOf(string name)
    {
        var invalid = Path.GetInvalidFileNameChars();
        var clean = new string([.. name.Select(c => invalid.Contains(c) || char.IsWhiteSpace(c) ? '_' : c)]);
        return clean.Length == 0 ? "testdbkit" : clean;
    }

    /// <summary>
    /// In a test host (vstest's testhost, a runner) the entry assembly is the host, so the name is the loaded
    /// assembly that references a test framework and the kit and is not one of the kit's adapters.
    /// </summary>
    private static string FindName()
    {
        if (Environment.GetEnvironmentVariable("TESTDBKIT_REPORT_NAME") is { Length: > 0 } fromEnv)
        {
            return fromEnv;
        }

        var entry = Assembly.GetEntryAssembly()?.GetName().Name;
        if (entry is not null && !entry.StartsWith("testhost", StringComparison.OrdinalIgnoreCase)
            && !entry.Contains("runner", StringComparison.OrdinalIgnoreCase))
        {
            return entry;
        }

        return TestAssemblyName() ?? entry ?? "testdbkit";
    }

    private static string? TestAssemblyName()
    {
        string[] frameworks = ["xunit.core", "xunit.v3.core", "nunit.framework", "Microsoft.VisualStudio.TestPlatform.TestFramework"];
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies())
        {
            var name = assembly.GetName().Name;
            if (assembly.IsDynamic || name is null || name is "TestDbKit" or "TestDbKit.Xunit" or "TestDbKit.NUnit")
            {
                continue;
            }

            var references = assembly.GetReferencedAssemblies().Select(r => r.Name).ToList();
            if (references.Any(r => frameworks.Contains(r, StringComparer.OrdinalIgnoreCase))
                && references.Any(r => r is not null && r.StartsWith("TestDbKit", StringComparison.Ordinal)))
            {
                return name;
            }
        }

        return null;
    }

    private static void Keep<T>(ConcurrentQueue<T> queue, T item)
    {
        queue.Enqueue(item);
        while (queue.Count > MaxKept && queue.TryDequeue(out _))
        {
            // Bounded in long chaos runs; the counts stay exact.
        }
    }

    private static string Shorten(string message) => message.Length <= 200 ? message : message[..197] + "...";
}

/// <summary>An error a client met.</summary>
internal sealed record RunError(long Timestamp, DateTimeOffset At, string Classification, string Type, string Message);

/// <summary>Code under test that recovered (or did not) after faults; <paramref name="Timestamp"/> is when it ended.</summary>
internal sealed record RunRecovery(long Timestamp, DateTimeOffset At, TimeSpan TimeToRecover, bool Recovered, string What);

/// <summary>A chaos seed used in this process, and what used it.</summary>
internal sealed record RunSeed(int Seed, string Source);
