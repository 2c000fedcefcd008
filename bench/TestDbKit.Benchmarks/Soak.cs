namespace TestDbKit.Benchmarks;

/// <summary><c>bench soak</c>: one soak (<see cref="SoakRun"/>) from the command line; exit 0 when every check holds,
/// 1 with the reasons when one fails, 2 for bad arguments.</summary>
internal static class Soak
{
    public static async Task<int> RunAsync(string[] args)
    {
        SoakOptions options;
        try
        {
            options = SoakOptions.Parse(args);
            SoakSchedule.Kinds(options.Kinds);
        }
        catch (ArgumentException e)
        {
            await Console.Error.WriteLineAsync($"soak: {e.Message}\nUsage: soak --engine postgresql|mysql --minutes N --seed S [--provider local|docker] [--seconds N] [--writers N] [--kinds a,b] [--blind-retry]").ConfigureAwait(false);
            return 2;
        }

        try
        {
            var report = await SoakRun.RunAsync(options, Console.Out).ConfigureAwait(false);
            return report.Passed ? 0 : 1;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The workload never got going (the server did not start, the writers' first writes failed): no checks ran.
            await Console.Error.WriteLineAsync($"FAILED: the soak stopped before its checks: {e}").ConfigureAwait(false);
            return 1;
        }
    }
}
