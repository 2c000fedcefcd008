using System.Diagnostics;

namespace TestDbKit.Sessions;

/// <summary>
/// Where a test's time goes inside the kit, phase by phase (pool look-up, lease, open, end-of-test checks, reset,
/// session settle): the lifecycle benchmark listens, nothing else does. Costs one null check per phase when nobody
/// listens.
/// </summary>
internal static class SessionTrace
{
    /// <summary>Gets each phase's name and its duration in milliseconds; null (the default) turns tracing off.</summary>
    public static Action<string, double>? Observer { get; set; }

    /// <summary>A timestamp to measure the next phase from, or 0 when nobody listens.</summary>
    public static long Start() => Observer is null ? 0 : Stopwatch.GetTimestamp();

    /// <summary>Reports the phase that ran since <paramref name="since"/> and starts the next one.</summary>
    public static void Lap(string phase, ref long since)
    {
        if (Observer is { } observer && since != 0)
        {
            var now = Stopwatch.GetTimestamp();
            observer(phase, Stopwatch.GetElapsedTime(since, now).TotalMilliseconds);
            since = now;
        }
    }

    /// <summary>Reports that <paramref name="what"/> happened once (its "duration" is 1).</summary>
    public static void Count(string what) => Observer?.Invoke(what, 1);
}
