using System.Diagnostics;
using System.Globalization;

namespace Suite;

/// <summary>What the bench tells the generated suite (the engine), and what the suite tells the bench: when the first
/// test body ran, and where the run's time went between the test host's start, the test bodies and the exit.</summary>
public static class SuiteEnv
{
    private static readonly object Gate = new();
    private static readonly long StartTimestamp = Stopwatch.GetTimestamp();
    private static readonly long StartUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    private static int _marked;
    private static int _bodies;
    private static long _bodyTicks;
    private static long _firstBody = long.MaxValue;
    private static long _lastBodyEnd;

    static SuiteEnv()
    {
        if (Environment.GetEnvironmentVariable("SUITE_TRACE_FILE") is { Length: > 0 } trace)
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) => WriteTrace(trace);
        }
    }

    /// <summary>PostgreSQL, or MariaDB/MySQL (SUITE_ENGINE=mysql). A bool, not the kit's DbEngine: the recipe's
    /// projects load none of the kit's assemblies.</summary>
    public static bool PostgreSql { get; } =
        !string.Equals(Environment.GetEnvironmentVariable("SUITE_ENGINE"), "mysql", StringComparison.OrdinalIgnoreCase);

    /// <summary>Starts timing a test body (every generated test's first line); the body's end is the dispose.</summary>
    public static BodyClock Body()
    {
        Mark();
        return new BodyClock(Stopwatch.GetTimestamp());
    }

    /// <summary>The loop bench's probe: the first test body of the process notes how long after the test host's
    /// start it ran, and when (Unix ms), so the bench can also measure from <c>dotnet test</c>'s start.</summary>
    public static void Mark()
    {
        if (Environment.GetEnvironmentVariable("SUITE_FIRST_BODY_FILE") is not { Length: > 0 } file || Interlocked.Exchange(ref _marked, 1) == 1)
        {
            return;
        }

        var now = DateTime.Now;
        var sinceHostStart = (now - Process.GetCurrentProcess().StartTime).TotalMilliseconds;
        File.WriteAllText(file, string.Create(CultureInfo.InvariantCulture,
            $"{sinceHostStart:F1} {new DateTimeOffset(now).ToUnixTimeMilliseconds()}"));
    }

    /// <summary>A test body's clock.</summary>
    public readonly struct BodyClock(long start) : IDisposable
    {
        public void Dispose()
        {
            var end = Stopwatch.GetTimestamp();
            lock (Gate)
            {
                _bodies++;
                _bodyTicks += end - start;
                _firstBody = Math.Min(_firstBody, start);
                _lastBodyEnd = Math.Max(_lastBodyEnd, end);
            }
        }
    }

    // One line for the bench, all times in Unix ms: host start, first body's start, last body's end; then the
    // number of bodies and their summed time in ms.
    private static void WriteTrace(string file)
    {
        lock (Gate)
        {
            if (_bodies == 0)
            {
                return;
            }

            var hostStart = new DateTimeOffset(Process.GetCurrentProcess().StartTime).ToUnixTimeMilliseconds();
            File.WriteAllText(file, string.Create(CultureInfo.InvariantCulture,
                $"{hostStart} {UnixMs(_firstBody):F1} {UnixMs(_lastBodyEnd):F1} {_bodies} {Stopwatch.GetElapsedTime(0, _bodyTicks).TotalMilliseconds:F1}"));
        }
    }

    private static double UnixMs(long timestamp) => StartUnixMs + Stopwatch.GetElapsedTime(StartTimestamp, timestamp).TotalMilliseconds;
}
