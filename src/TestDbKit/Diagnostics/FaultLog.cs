using System.Diagnostics;

namespace TestDbKit.Diagnostics;

/// <summary>Every fault the kit injected in this process, with when and where: the raw material of a
/// recovery timeline and of chaos reports. Each fault is also written into the open <see cref="RunScope"/>s of
/// the flow that injected it.</summary>
internal static class FaultLog
{
    public static void Record(string fault, string target)
    {
        var entry = new FaultEvent(Stopwatch.GetTimestamp(), DateTimeOffset.UtcNow, fault, target);
        RunLog.Book.Fault(entry);
        foreach (var book in RunScope.OpenBooks())
        {
            book.Fault(entry);
        }

        RunLog.Changed();
    }

    /// <summary>The faults kept so far (the last 10,000).</summary>
    public static IReadOnlyList<FaultEvent> All => RunLog.Book.Faults;

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
        [.. All.Where(e => e.Timestamp >= fromTimestamp && e.Timestamp <= toTimestamp)];
}

/// <summary>One injected fault.</summary>
internal sealed record FaultEvent(long Timestamp, DateTimeOffset At, string Fault, string Target);
