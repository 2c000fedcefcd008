using System.Diagnostics;
using TestDbKit.Faults;

namespace TestDbKit.Diagnostics;

/// <summary>Every fault the kit injected in this process, with when and where: the raw material of a
/// recovery timeline and of chaos reports. Each fault is also written into the open <see cref="RunScope"/>s of
/// the flow that injected it.</summary>
internal static class FaultLog
{
    /// <summary>Records a fault of <paramref name="kind"/> (grouped in reports by its catalogue name) on
    /// <paramref name="target"/>, with its values, if any, as <paramref name="detail"/> ("500 ms", a table).
    /// <paramref name="engine"/> is the target's engine where the caller knows it; the running test
    /// (<see cref="Sessions.CurrentTest"/>) is named, and gives the engine otherwise.</summary>
    public static void Record(FaultKind kind, string target, string? detail = null, DbEngine? engine = null, string? endpoint = null)
    {
        ArgumentNullException.ThrowIfNull(kind);
        var test = Sessions.CurrentTest.Value;
        var entry = new FaultEvent(Stopwatch.GetTimestamp(), DateTimeOffset.UtcNow, kind.Name, detail, target, test?.Name, engine ?? test?.Engine, endpoint);
        RunLog.Book.Fault(entry);
        foreach (var book in RunScope.OpenBooks())
        {
            book.Fault(entry);
        }

        RunLog.Changed();
    }

    /// <summary>The faults kept so far (the last 10,000).</summary>
    public static IReadOnlyList<FaultEvent> All => RunLog.Book.Faults;

    public static IReadOnlyList<FaultEvent> Between(long fromTimestamp, long toTimestamp) =>
        [.. All.Where(e => e.Timestamp >= fromTimestamp && e.Timestamp <= toTimestamp)];
}

/// <summary>One injected fault: its kind (the catalogue's name), its values if any, where, and the test and engine (null
/// where none was running: a chaos run of the tool, the kit's own background work).</summary>
internal sealed record FaultEvent(long Timestamp, DateTimeOffset At, string Kind, string? Detail, string Target, string? Test = null, DbEngine? Engine = null, string? Endpoint = null)
{
    /// <summary>The kind and its values, as timelines show it: "idle 500 ms", "kill".</summary>
    public string Fault => Detail is null ? Kind : Kind + " " + Detail;
}
