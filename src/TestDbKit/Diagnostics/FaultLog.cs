using System.Collections.Concurrent;
using System.Diagnostics;

namespace TestDbKit.Diagnostics;

/// <summary>Every fault the kit injected in this process, with when and where: the raw material of a
/// recovery timeline and of chaos reports.</summary>
internal static class FaultLog
{
    private static readonly ConcurrentQueue<FaultEvent> Events = new();
    private static readonly ConcurrentDictionary<string, int> Counts = new(StringComparer.Ordinal);

    public static void Record(string fault, string target)
    {
        Events.Enqueue(new FaultEvent(Stopwatch.GetTimestamp(), DateTimeOffset.UtcNow, fault, target));
        Counts.AddOrUpdate(KindOf(fault), 1, (_, n) => n + 1); // exact even when the log below drops old events
        RunLog.Changed();
        while (Events.Count > 10_000 && Events.TryDequeue(out _))
        {
            // Keep the log bounded in long chaos runs.
        }
    }

    /// <summary>The faults kept so far (the last 10,000).</summary>
    public static IReadOnlyList<FaultEvent> All => [.. Events];

    /// <summary>How many faults of each kind were injected in this process.</summary>
    public static IReadOnlyDictionary<string, int> CountsByKind => new Dictionary<string, int>(Counts, StringComparer.Ordinal);

    /// <summary>A fault's kind, without its values and target: "Idle timeout 500 ms" is an "Idle timeout",
    /// "hold lock on orders" a "hold lock".</summary>
    public static string KindOf(string fault)
    {
        var words = new List<string>();
        foreach (var word in fault.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (word == "on" || word.Any(char.IsDigit))
            {
                break;
            }

            words.Add(word);
        }

        return words.Count == 0 ? fault : string.Join(' ', words);
    }

    public static IReadOnlyList<FaultEvent> Between(long fromTimestamp, long toTimestamp) =>
        [.. Events.Where(e => e.Timestamp >= fromTimestamp && e.Timestamp <= toTimestamp)];
}

/// <summary>One injected fault.</summary>
internal sealed record FaultEvent(long Timestamp, DateTimeOffset At, string Fault, string Target);
