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
    private static readonly RunBook Process = new();
    private static int _exitHooked;

    /// <summary>The process's book: everything recorded in it.</summary>
    internal static RunBook Book => Process;

    /// <summary>The report name for this process: <c>TESTDBKIT_REPORT_NAME</c>, else the test assembly's name,
    /// else the entry assembly's. Found once: finding it scans every loaded assembly.</summary>
    public static string ProcessName => Name ?? FoundName();

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
        if (Options.KitEnvironment.ReportFolder is not null && Interlocked.Exchange(ref _exitHooked, 1) == 0)
        {
            // vstest kills its testhost 100 ms after asking it to end (VSTEST_TESTHOST_SHUTDOWN_TIMEOUT), which may
            // land before or inside the exit handler: the exit cannot be counted on. So the report is written
            // (1) inline when the last open test session ends, before the test's result reaches the runner, so
            // the run cannot end before that write does; (2) in the background shortly after any other change
            // (faults or errors outside a session); (3) at exit, only if something changed since.
            Checkpoints = new Timer(_ => WriteToReportDir());
            AppDomain.CurrentDomain.ProcessExit += (_, _) => WriteToReportDir();
        }
    }

    private static Timer? Checkpoints { get; set; }

    /// <summary>The longest a change waits for its background write, however long writes take.</summary>
    internal static readonly TimeSpan MaxDebounce = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan MinDebounce = TimeSpan.FromMilliseconds(50);
    private static readonly Lock WriteGate = new();
    private static int _dirty;
    private static bool _written;
    private static int _openSessions;
    private static TimeSpan _lastWrite;

    /// <summary>Something was recorded: write the report soon, in the background. Bursts (a chaos run, a suite
    /// of short tests) coalesce into one write; the pause grows with what a write costs, up to
    /// <see cref="MaxDebounce"/>.</summary>
    public static void Changed()
    {
        if (Checkpoints is { } timer && Interlocked.Exchange(ref _dirty, 1) == 0)
        {
            try
            {
                timer.Change(Debounce(_lastWrite), Timeout.InfiniteTimeSpan);
            }
            catch (ObjectDisposedException)
            {
                // The process is ending.
            }
        }
    }

    /// <summary>The pause before a background write, given what the last write took.</summary>
    internal static TimeSpan Debounce(TimeSpan lastWrite)
    {
        var wait = lastWrite * 5;
        return wait < MinDebounce ? MinDebounce : wait > MaxDebounce ? MaxDebounce : wait;
    }

    /// <summary>A test session started; <see cref="SessionEnded"/> ends it, whatever happens in between.</summary>
    public static void SessionStarted() => Interlocked.Increment(ref _openSessions);

    /// <summary>A test session ended, cleanly or not. When it was the last one open, this may be the run's last
    /// test, and the runner may kill the process soon after it learns the result: the report is written now, on
    /// the test's own path, so the result waits for it.</summary>
    public static void SessionEnded()
    {
        if (Interlocked.Decrement(ref _openSessions) == 0)
        {
            WriteToReportDir();
        }
    }

    public static void TestEnded(bool connectionDiscarded, int leakedConnections, string? leakReport = null)
    {
        Process.TestEnded(connectionDiscarded, leakedConnections, leakReport);
        foreach (var book in RunScope.OpenBooks())
        {
            book.TestEnded(connectionDiscarded, leakedConnections, leakReport);
        }

        Changed();
    }

    /// <summary>Counts an error a client met, once per exception object however often it is asked about.</summary>
    public static void ClientError(Exception error)
    {
        RunError? entry = null;
        foreach (var book in RunScope.OpenBooks().Prepend(Process))
        {
            entry ??= new RunError(Stopwatch.GetTimestamp(), DateTimeOffset.UtcNow, Classification(error), error.GetType().Name, Shorten(error.Message),
                Sessions.CurrentTest.Value?.Name, EngineOf(error) ?? Sessions.CurrentTest.Value?.Engine);
            if (book.Error(error, entry) && ReferenceEquals(book, Process))
            {
                Changed();
            }
        }
    }

    public static void Recovery(TimeSpan timeToRecover, bool recovered, string what)
    {
        var test = Sessions.CurrentTest.Value;
        var recovery = new RunRecovery(Stopwatch.GetTimestamp(), DateTimeOffset.UtcNow, timeToRecover, recovered, what, test?.Name, test?.Engine);
        Process.Recovery(recovery);
        foreach (var book in RunScope.OpenBooks())
        {
            book.Recovery(recovery);
        }

        Changed();
    }

    public static void Seed(int seed, string source)
    {
        var entry = new RunSeed(seed, source);
        Process.Seed(entry);
        foreach (var book in RunScope.OpenBooks())
        {
            book.Seed(entry);
        }

        Changed();
    }

    public static IReadOnlyList<RunError> ErrorsSoFar => Process.Errors;

    public static IReadOnlyList<RunRecovery> RecoveriesSoFar => Process.Recoveries;

    public static IReadOnlyList<RunSeed> SeedsSoFar => Process.Seeds;

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

    /// <summary>
    /// Writes <c>NAME.txt</c> and <c>NAME.html</c> into <c>TESTDBKIT_REPORT_DIR</c> when something changed since
    /// the last write (or nothing was written yet). Both are rendered from one capture before either is replaced,
    /// and then replaced back to back, so the pair on disk describes one moment of the run. Runs on a timer thread,
    /// on a test's path and in the exit handler, where nothing can be awaited and nothing may throw.
    /// </summary>
    internal static void WriteToReportDir()
    {
        if (!WriteAtExit || Options.KitEnvironment.ReportFolder is not { } dir)
        {
            return;
        }

        lock (WriteGate)
        {
            if (Interlocked.Exchange(ref _dirty, 0) == 0 && _written)
            {
                return;
            }

            var started = Stopwatch.GetTimestamp();
            string? text = null, html = null;
            try
            {
                var report = RunReport.Capture();
                var path = Path.Combine(dir, FileNameOf(report.Name));
                text = Aside(path + ".txt", report.ToString());
                html = Aside(path + ".html", RunReportHtml.Render(report));
                File.Move(text, path + ".txt", overwrite: true);
                File.Move(html, path + ".html", overwrite: true);
                _written = true;
            }
            catch (Exception e)
            {
                // Whatever went wrong, a report must never take down the test process: this runs on a timer
                // thread or in the exit handler, where an exception would end the process.
                Discard(text);
                Discard(html);
                ReportNotWritten(dir, e);
            }

            _lastWrite = Stopwatch.GetElapsedTime(started);
        }

        // A process killed in the middle of a write leaves the previous pair whole: write aside, then rename.
        static string Aside(string path, string content)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var temporary = $"{path}.{Environment.ProcessId}.tmp";
            File.WriteAllText(temporary, content);
            return temporary;
        }

        static void Discard(string? temporary)
        {
            try
            {
                if (temporary is not null)
                {
                    File.Delete(temporary);
                }
            }
            catch (IOException)
            {
                // Best effort; the next write replaces it.
            }
            catch (UnauthorizedAccessException)
            {
                // Best effort; the next write replaces it.
            }
        }
    }

    private static int _saidNotWritten;

    /// <summary>Says once per process, at the first failed write (the exit handler may be cut short by the runner),
    /// which file could not be written, why, and what to do. Later writes still try: a folder fixed meanwhile gets
    /// the report.</summary>
    private static void ReportNotWritten(string dir, Exception error)
    {
        if (Interlocked.Exchange(ref _saidNotWritten, 1) != 0)
        {
            return;
        }

        try
        {
            var file = Path.Combine(dir, FileNameOf(ProcessName) + ".txt");
            Console.Error.WriteLine(
                $"[TestDbKit] Could not write the run report {file} (TESTDBKIT_REPORT_DIR='{dir}'): {error.GetType().Name}: {error.Message.TrimEnd('.')}{FileInTheWay(dir)}. " +
                "The tests go on without it. Point TESTDBKIT_REPORT_DIR at a folder this user can create and write, or unset it.");
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException or NotSupportedException)
        {
            // A path the runtime refuses, or a closed stderr: saying it must not end the process either.
        }
    }

    /// <summary>Where a part of <paramref name="dir"/>'s path is a file, says so: the error alone only says the path was not found.</summary>
    private static string FileInTheWay(string dir)
    {
        for (var path = Path.GetFullPath(dir); !string.IsNullOrEmpty(path); path = Path.GetDirectoryName(path))
        {
            if (File.Exists(path))
            {
                return $" ({path} is a file, not a folder)";
            }

            if (Directory.Exists(path))
            {
                break;
            }
        }

        return "";
    }

    internal static string FileNameOf(string name)
    {
        var invalid = Path.GetInvalidFileNameChars();
        var clean = new string([.. name.Select(c => invalid.Contains(c) || char.IsWhiteSpace(c) ? '_' : c)]);
        return clean.Length == 0 ? "testdbkit" : clean;
    }

    private static string? _foundName;

    /// <summary>The name found once and kept. Only a sure answer is kept: before the test assembly is loaded,
    /// a test host would be named after itself.</summary>
    private static string FoundName()
    {
        if (Volatile.Read(ref _foundName) is { } found)
        {
            return found;
        }

        var (name, sure) = FindName();
        if (sure)
        {
            Volatile.Write(ref _foundName, name);
        }

        return name;
    }

    /// <summary>
    /// In a test host (vstest's testhost, a runner) the entry assembly is the host, so the name is the loaded
    /// assembly that references a test framework and the kit and is not one of the kit's adapters.
    /// </summary>
    private static (string Name, bool Sure) FindName()
    {
        if (Options.KitEnvironment.ReportFileName is { } fromEnv)
        {
            return (fromEnv, true);
        }

        var entry = Assembly.GetEntryAssembly()?.GetName().Name;
        if (entry is not null && !entry.StartsWith("testhost", StringComparison.OrdinalIgnoreCase)
            && !entry.Contains("runner", StringComparison.OrdinalIgnoreCase))
        {
            return (entry, true);
        }

        return TestAssemblyName() is { } test ? (test, true) : (entry ?? "testdbkit", false);
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

    /// <summary>The engine whose driver raised <paramref name="error"/> (or an error inside it), if one did.</summary>
    private static DbEngine? EngineOf(Exception error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            foreach (var (driver, engine) in Drivers.Value)
            {
                if (e.GetType().Assembly == driver)
                {
                    return engine;
                }
            }
        }

        return null;
    }

    // Each engine's driver assembly (Npgsql, MySqlConnector), known by the type of its connection-string builder.
    private static readonly Lazy<(System.Reflection.Assembly Driver, DbEngine Engine)[]> Drivers =
        new(() => [.. Engines.EngineRegistry.All.Select(d => (d.CreateBuilder("").GetType().Assembly, d.Engine))]);

    /// <summary>A message cut to 200 characters, for reports and ledgers.</summary>
    internal static string Shorten(string message) => message.Length <= 200 ? message : message[..197] + "...";
}

/// <summary>An error a client met, in which test (null outside one) and on which engine (null when unknown).</summary>
internal sealed record RunError(long Timestamp, DateTimeOffset At, string Classification, string Type, string Message, string? Test = null, DbEngine? Engine = null);

/// <summary>Code under test that recovered (or did not) after faults; <paramref name="Timestamp"/> is when it ended; in
/// which test (null outside one) and on which engine.</summary>
internal sealed record RunRecovery(long Timestamp, DateTimeOffset At, TimeSpan TimeToRecover, bool Recovered, string What, string? Test = null, DbEngine? Engine = null);

/// <summary>A chaos seed used in this process, and what used it.</summary>
internal sealed record RunSeed(int Seed, string Source);
