using System.Globalization;
using TestDbKit.Diagnostics;

namespace TestDbKit.Databases;

/// <summary>
/// Names of the kit's databases: <c>tdk_YYMMDDhhmmss_RUNID_KINDn</c>. The prefix keeps the kit away from
/// everything else on a shared server, the run id keeps parallel CI jobs apart, and the timestamp lets
/// the janitor tell a crashed run's leftovers from a live run's databases where runs hold no mark.
/// Run ids of runs that hold a mark on shared servers (<see cref="RunLiveness"/>) have <see cref="MarkedRunIdLength"/>
/// characters; those of earlier kit versions, which hold none, 6: a janitor judges the latter by age alone, and
/// earlier versions' janitors, which parse only 6, leave the former alone.
/// </summary>
internal static class DatabaseNames
{
    public const string Prefix = "tdk_";

    private static readonly DateTime RunStarted = DateTime.UtcNow;
    private static int _counter;

    /// <summary>The length of the run id of a run that holds a mark on servers it shares.</summary>
    public const int MarkedRunIdLength = 8;

    /// <summary>The length of the run id of earlier kit versions, whose runs hold no mark.</summary>
    private const int UnmarkedRunIdLength = 6;

    /// <summary>This process's run id.</summary>
    public static string RunId { get; } = Secrets.NewId(MarkedRunIdLength);

    /// <summary>A new name; <paramref name="kind"/> is 't' (template), 'd' (pooled) or 'c' (clone).</summary>
    public static string New(char kind) =>
        string.Create(CultureInfo.InvariantCulture, $"{Prefix}{RunStarted:yyMMddHHmmss}_{RunId}_{kind}{Interlocked.Increment(ref _counter)}");

    /// <summary>Reads the creation time and run id back from a name the kit made; <paramref name="marked"/> says
    /// whether its run holds a mark on servers it shares (see <see cref="RunLiveness"/>).</summary>
    public static bool TryParse(string name, out DateTime created, out string runId, out bool marked)
    {
        created = default;
        runId = "";
        var parts = name.Split('_');
        marked = false;
        if (parts.Length != 4 || parts[0] + "_" != Prefix
            || parts[2].Length is not (UnmarkedRunIdLength or MarkedRunIdLength) || !parts[2].All(char.IsAsciiLetterOrDigit)
            || parts[3].Length < 2 || parts[3][0] is not ('t' or 'd' or 'c') || !parts[3][1..].All(char.IsAsciiDigit)
            || !DateTime.TryParseExact(parts[1], "yyMMddHHmmss", CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out created))
        {
            return false;
        }

        runId = parts[2];
        marked = runId.Length == MarkedRunIdLength;
        return true;
    }
}
