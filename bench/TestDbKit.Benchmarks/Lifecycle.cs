using System.Data.Common;
using System.Diagnostics;
using TestDbKit.Sessions;

namespace TestDbKit.Benchmarks;

/// <summary>
/// What the base classes add to a test: the core session (lease, connection proven alive, end-of-test
/// checks, reset) around a test that runs one query, against the same test on a raw pooled driver
/// connection; and the same with [ResetConnection], which starts every test on a new server session.
/// </summary>
internal static class Lifecycle
{
    public static async Task RunAsync(int iterations)
    {
        Console.WriteLine($"Per-test cost, {iterations} tests each, ms: a test that runs one query");
        Console.WriteLine($"{"engine",-11} {"provider",-8} {"raw p50",8} {"kit p50",8} {"kit p90",8} {"reset p50",10}  {"overhead p50",12} {"reset overhead",14}");
        var providers = await Servers.DockerProbe.WhyUnavailableAsync() is null
            ? new[] { DbServerProvider.Local, DbServerProvider.Docker }
            : [DbServerProvider.Local];
        foreach (var (engine, provider) in new[] { DbEngine.PostgreSql, DbEngine.MySql }.SelectMany(e => providers.Select(p => (e, p))))
        {
            await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = provider });
            await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { MaxDatabases = 2 });
            var plain = Options(engine, reset: false);
            var reset = Options(engine, reset: true);
            string cs;
            await using (var probe = await pool.LeaseAsync())
            {
                cs = probe.ConnectionString;
            }

            var raw = await MeasureAsync(iterations, async () =>
            {
                await using var connection = server.CreateConnection(cs);
                await connection.OpenAsync();
                await QueryAsync(connection);
            });
            var kit = await MeasureAsync(iterations, async () =>
            {
                var session = await TestSession.StartAsync(plain, pool, default);
                await QueryAsync(session.CurrentConnection());
                await session.EndAsync(default);
            });
            var withReset = await MeasureAsync(iterations, async () =>
            {
                var session = await TestSession.StartAsync(reset, pool, default);
                await QueryAsync(session.CurrentConnection());
                await session.EndAsync(default);
            });
            Console.WriteLine($"{engine,-11} {provider,-8} {raw.Median,8:0.00} {kit.Median,8:0.00} {kit.P90,8:0.00} {withReset.Median,10:0.00}  " +
                $"{kit.Median - raw.Median,12:0.00} {withReset.Median - raw.Median,14:0.00}");
        }
    }

    private static SessionOptions Options(DbEngine engine, bool reset) =>
        new("bench", engine, (_, _) => Task.CompletedTask, typeof(Lifecycle), IsolationMode.Reset, reset, FailOnLeak: false);

    private static async Task<Stats> MeasureAsync(int iterations, Func<Task> test)
    {
        var samples = new List<double>();
        for (var i = -20; i < iterations; i++)
        {
            var clock = Stopwatch.StartNew();
            await test();
            if (i >= 0)
            {
                samples.Add(clock.Elapsed.TotalMilliseconds);
            }
        }

        return Stats.Of(samples);
    }

    private static async Task QueryAsync(DbConnection connection)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT 1";
        await command.ExecuteScalarAsync();
    }
}
