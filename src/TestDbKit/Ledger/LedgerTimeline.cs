using System.Diagnostics;
using System.Globalization;
using TestDbKit.Diagnostics;
using TestDbKit.Faults;

namespace TestDbKit;

/// <summary>The kit's faults around a write, from the process's timeline (<see cref="FaultLog"/>), as lines a
/// violation shows: when relative to the write's start, which fault, where.</summary>
internal static class LedgerTimeline
{
    /// <summary>The faults within <paramref name="window"/> of the write, on <paramref name="database"/> (when
    /// known) or on its whole server (<paramref name="endpoint"/>, when known): the process's timeline also holds the
    /// faults of tests running beside this one, on databases and servers of their own.</summary>
    public static IReadOnlyList<string> Around(long began, long ended, TimeSpan window, string? database, string? endpoint)
    {
        var margin = (long)(window.TotalSeconds * Stopwatch.Frequency);
        return [.. FaultLog.Between(began - margin, ended + margin)
            .Where(f => string.IsNullOrEmpty(database) || f.Target == database || OnTheServer(f, endpoint))
            .Select(f => Line(f, began, ended))];
    }

    private static bool OnTheServer(FaultEvent fault, string? endpoint) =>
        FaultCatalogue.Find(fault.Kind)?.Scope == FaultScope.Server && (endpoint is null || fault.Endpoint is null || fault.Endpoint == endpoint);

    private static string Line(FaultEvent fault, long began, long ended)
    {
        var offset = Stopwatch.GetElapsedTime(began, fault.Timestamp).TotalMilliseconds;
        var when = fault.Timestamp < began ? "before" : fault.Timestamp <= ended ? "during" : "after";
        return string.Create(CultureInfo.InvariantCulture, $"{offset:+0;-0;0} ms ({when}) {fault.Fault} on {fault.Target}");
    }
}
