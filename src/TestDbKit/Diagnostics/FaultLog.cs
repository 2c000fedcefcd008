using System.Collections.Concurrent;
using System.Diagnostics;

namespace TestDbKit.Diagnostics;

/// <summary>Every fault the kit injected in this process, with when and where: the raw material of a
/// recovery timeline and of chaos reports.</summary>
internal static class FaultLog
{
    private static readonly ConcurrentQueue<FaultEvent> Events = new();

    public static void Record(string fault, string target)
    {
        Events.Enqueue(new FaultEvent(Stopwatch.GetTimestamp(), DateTimeOffset.UtcNow, fault, target));
        while (Events.Count > 10_000 && Events.TryDequeue(out _))
        {
            // Keep the log bounded in long chaos runs.
        }
    }

    public static IReadOnlyList<FaultEvent> Between(long fromTimestamp, long toTimestamp) =>
        [.. Events.Where(e => e.Timestamp >= fromTimestamp && e.Timestamp <= toTimestamp)];
}

/// <summary>One injected fault.</summary>
internal sealed record FaultEvent(long Timestamp, DateTimeOffset At, string Fault, string Target);
