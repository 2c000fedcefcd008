using System.Diagnostics;
using System.Globalization;

namespace Suite;

/// <summary>What the bench tells the generated suite: the engine, and where to note the first test body's time.</summary>
public static class SuiteEnv
{
    /// <summary>PostgreSQL, or MariaDB/MySQL (SUITE_ENGINE=mysql). A bool, not the kit's DbEngine: the recipe's
    /// projects load none of the kit's assemblies.</summary>
    public static bool PostgreSql { get; } =
        !string.Equals(Environment.GetEnvironmentVariable("SUITE_ENGINE"), "mysql", StringComparison.OrdinalIgnoreCase);

    private static int _marked;

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
}
