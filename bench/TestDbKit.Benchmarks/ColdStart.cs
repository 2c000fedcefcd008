using System.Diagnostics;
using TestDbKit.Servers;

namespace TestDbKit.Benchmarks;

/// <summary>
/// Cold start to the first accepted connection, per engine and provider, measured in one run so the
/// ratios compare like with like. Docker is the anchor when an engine answers.
/// </summary>
internal static class ColdStart
{
    public static async Task RunAsync(int runs)
    {
        var docker = await DockerProbe.WhyUnavailableAsync();
        Console.WriteLine($"Cold start to first accepted connection, {runs} runs each (after one warm-up), ms");
        Console.WriteLine($"{"engine",-11} {"provider",-8} {"median",8} {"p90",8} {"min",8}  {"Docker/Local",12}");
        foreach (var engine in new[] { DbEngine.PostgreSql, DbEngine.MySql })
        {
            var local = await MeasureAsync(engine, DbServerProvider.Local, runs);
            Stats? container = docker is null ? await MeasureAsync(engine, DbServerProvider.Docker, runs) : null;
            Print(engine, DbServerProvider.Local, local, container is null ? "" : $"{container.Median / local.Median:0.0}x");
            if (container is not null)
            {
                Print(engine, DbServerProvider.Docker, container, "");
            }
        }

        if (docker is not null)
        {
            Console.WriteLine($"Docker: not measured ({docker}).");
        }
    }

    private static async Task<Stats> MeasureAsync(DbEngine engine, DbServerProvider provider, int runs)
    {
        var samples = new List<double>();
        for (var i = 0; i <= runs; i++)
        {
            var clock = Stopwatch.StartNew();
            await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = provider });
            await using (var connection = server.CreateConnection())
            {
                await connection.OpenAsync();
            }

            clock.Stop();
            if (i > 0)
            {
                samples.Add(clock.Elapsed.TotalMilliseconds); // run 0 warms the JIT and the page cache
            }
        }

        return Stats.Of(samples);
    }

    private static void Print(DbEngine engine, DbServerProvider provider, Stats s, string ratio) =>
        Console.WriteLine($"{engine,-11} {provider,-8} {s.Median,8:0} {s.P90,8:0} {s.Min,8:0}  {ratio,12}");
}
