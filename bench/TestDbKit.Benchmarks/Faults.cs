using System.Data.Common;
using System.Diagnostics;
using Polly;
using Polly.Retry;

namespace TestDbKit.Benchmarks;

/// <summary>
/// The proxy's cost with no fault active, against a direct connection; and, per fault kind, the time from a
/// fault to the first successful query of a resilient client (Polly retrying on DbErrors.IsTransient, no
/// backoff, so the number is the kit's and the driver's part, not the client's waiting).
/// </summary>
internal static class Faults
{
    public static async Task RunAsync(int iterations)
    {
        Console.WriteLine($"Proxy cost with no fault active, {iterations} round trips (SELECT 1) each, ms per round trip");
        Console.WriteLine($"{"engine",-11} {"direct p50",10} {"proxy p50",10} {"added p50",10} {"direct p90",10} {"proxy p90",10}");
        foreach (var engine in new[] { DbEngine.PostgreSql, DbEngine.MySql })
        {
            var server = await DbServer.SharedAsync(engine);
            await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { MaxDatabases = 1 });
            await using var db = await pool.LeaseAsync();
            var direct = await RoundTripsAsync(server, db.ConnectionString, iterations);
            var proxied = await RoundTripsAsync(server, db.Faults.Network.ConnectionString, iterations);
            Console.WriteLine($"{engine,-11} {direct.Median,10:0.000} {proxied.Median,10:0.000} {proxied.Median - direct.Median,10:0.000} {direct.P90,10:0.000} {proxied.P90,10:0.000}");
        }

        Console.WriteLine($"\nRecovery: fault to the first successful query of a resilient client (no backoff), ms");
        Console.WriteLine("(server-wide faults on a server of the benchmark's own; their time includes the fault itself: the restart)");
        Console.WriteLine($"{"engine",-11} {"fault",-30} {"runs",5} {"p50",8} {"p90",8} {"max",8}");
        var retry = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions { ShouldHandle = new PredicateBuilder().Handle<Exception>(DbErrors.IsTransient), MaxRetryAttempts = 100, Delay = TimeSpan.Zero })
            .Build();
        foreach (var engine in new[] { DbEngine.PostgreSql, DbEngine.MySql })
        {
            await using var server = await DbServer.StartAsync(engine);
            await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { MaxDatabases = 1 });
            await using var db = await pool.LeaseAsync();
            var faults = new (string Name, Func<Task> Inject, string Cs, int Runs, bool FaultTimed)[]
            {
                ("kill", async () => await db.Faults.KillAllSessionsAsync(), db.ConnectionString, 30, false),
                ("kill-idle", async () => await db.Faults.KillIdleSessionsAsync(), db.ConnectionString, 30, false),
                ("network-reset", async () => await db.Faults.Network.ResetConnectionsAsync(), db.Faults.Network.ConnectionString, 30, false),
                ("freeze (after the thaw)", async () => await (await db.Faults.FreezeServerAsync()).DisposeAsync(), db.ConnectionString, 30, false),
                ("restart", async () => await db.Faults.RestartServerAsync(), db.ConnectionString, 10, true),
                ("crash", async () => await db.Faults.CrashServerAsync(), db.ConnectionString, 10, true),
            };
            foreach (var (name, inject, cs, runs, faultTimed) in faults)
            {
                var samples = new List<double>();
                for (var i = -1; i < runs; i++)
                {
                    await QueryAsync(server, cs, CancellationToken.None); // a warm pooled session to lose
                    var clock = Stopwatch.StartNew();
                    await inject();
                    if (!faultTimed)
                    {
                        clock.Restart();
                    }

                    await retry.ExecuteAsync(async ct => await QueryAsync(server, cs, ct));
                    if (i >= 0)
                    {
                        samples.Add(clock.Elapsed.TotalMilliseconds);
                    }
                }

                var s = Stats.Of(samples);
                Console.WriteLine($"{engine,-11} {name,-30} {runs,5} {s.Median,8:0.00} {s.P90,8:0.00} {samples.Max(),8:0.00}");
            }
        }
    }

    private static async Task<Stats> RoundTripsAsync(DbServer server, string cs, int iterations)
    {
        await using var connection = server.CreateConnection(cs);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT 1";
        var samples = new List<double>();
        for (var i = -200; i < iterations; i++)
        {
            var clock = Stopwatch.StartNew();
            await command.ExecuteScalarAsync();
            if (i >= 0)
            {
                samples.Add(clock.Elapsed.TotalMilliseconds);
            }
        }

        return Stats.Of(samples);
    }

    private static async Task QueryAsync(DbServer server, string cs, CancellationToken ct)
    {
        await using DbConnection connection = server.CreateConnection(cs);
        await connection.OpenAsync(ct);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT 1";
        await command.ExecuteScalarAsync(ct);
    }
}
