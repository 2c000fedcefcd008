using System.Globalization;
using TestDbKit.Diagnostics;

namespace TestDbKit.Databases;

/// <summary>
/// Names of the kit's databases: <c>tdk_YYMMDDhhmmss_RUNID_KINDn</c>. The prefix keeps the kit away from
/// everything else on a shared server, the run id keeps parallel CI jobs apart, and the timestamp lets
/// the janitor tell a crashed run's leftovers from a live run's databases.
/// </summary>
internal static class DatabaseNames
{
    public const string Prefix = "tdk_";

    private static readonly DateTime RunStarted = DateTime.UtcNow;
    private static int _counter;

    /// <summary>This process's run id.</summary>
    public static string RunId { get; } = Secrets.NewId(6);

    /// <summary>A new name; <paramref name="kind"/> is 't' (template), 'd' (pooled) or 'c' (clone).</summary>
    public static string New(char kind) =>
        string.Create(CultureInfo.InvariantCulture, $"{Prefix}{RunStarted:yyMMddHHmmss}_{RunId}_{kind}{Interlocked.Increment(ref _counter)}");

    /// <summary>Reads the creation time and run id back from a name the kit made.</summary>
    public static bool TryParse(string name, out DateTime created, out string runId)
    {
        created = default;
        runId = "";
        var parts = name.Split('_');
        if (parts.Length != 4 || parts[0] + "_" != Prefix || parts[2].Length != 6
            || !DateTime.TryParseExact(parts[1], "yyMMddHHmmss", CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out created))
        {
            return false;
        }

        runId = parts[2];
        return true;
    }
}
