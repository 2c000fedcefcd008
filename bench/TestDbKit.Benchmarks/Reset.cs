using System.Data.Common;
using System.Diagnostics;
using System.Text;

namespace TestDbKit.Benchmarks;

/// <summary>
/// Per-test reset after a test that wrote to 3 of N tables, against Respawn and against the floor (a
/// bare DELETE of just the dirty tables), on the same server with identical schemas, in one run. Then the
/// write overhead of the change tracking, and suite throughput with 1, 2 and 4 workers.
/// </summary>
internal static class Reset
{
    public static async Task RunAsync(int iterations)
    {
        foreach (var engine in new[] { DbEngine.PostgreSql, DbEngine.MySql })
        {
            await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
            Console.WriteLine($"\n{engine}: reset after writing 3 of N tables, {iterations} resets each, ms (lower is better)");
            Console.WriteLine($"{"N",4} {"kit",8} {"kit-noseq",10} {"Respawn",8} {"floor",8}  {"Respawn/kit",11} {"kit/floor",9}");
            foreach (var tables in new[] { 50, 200 })
            {
                await ResetCostAsync(server, tables, iterations);
            }

            await WriteOverheadAsync(server);
            await ThroughputAsync(server);
        }
    }

    private static async Task ResetCostAsync(DbServer server, int tables, int iterations)
    {
        var schema = Chain(server.Engine, tables);
        await using var tracked = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = schema, MaxDatabases = 1 });
        await using var noSeq = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = schema, MaxDatabases = 1, ResetSequences = false });
        await using var respawn = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = schema, MaxDatabases = 1, UseRespawn = true });
        var dirty = new[] { "t0", "t1", $"t{tables - 1}" };
        var write = string.Join(";", dirty.Select(t => $"INSERT INTO {t} (v) VALUES (1)"));
        var floorSql = string.Join(";", dirty.Reverse().Select(t => $"DELETE FROM {t}"));

        var kit = await MeasureAsync(tracked, write, db => db.ResetAsync(), iterations);
        var kitNoSeq = await MeasureAsync(noSeq, write, db => db.ResetAsync(), iterations);
        var respawner = await MeasureAsync(respawn, write, db => db.ResetAsync(), iterations);
        var floor = await MeasureAsync(noSeq, write, async db =>
        {
            await using var c = await db.OpenConnectionAsync();
            await ExecuteAsync(c, floorSql);
        }, iterations);
        Console.WriteLine($"{tables,4} {kit.Median,8:0.00} {kitNoSeq.Median,10:0.00} {respawner.Median,8:0.00} {floor.Median,8:0.00}  " +
            $"{respawner.Median / kit.Median,10:0.0}x {kit.Median / floor.Median,8:0.0}x");
    }

    private static async Task<Stats> MeasureAsync(DatabasePool pool, string write, Func<TestDatabase, Task> reset, int iterations)
    {
        var samples = new List<double>();
        await using var db = await pool.LeaseAsync();
        await using (var writer = await db.OpenConnectionAsync())
        {
            for (var i = -5; i < iterations; i++)
            {
                await ExecuteAsync(writer, write);
                var clock = Stopwatch.StartNew();
                await reset(db);
                if (i >= 0)
                {
                    samples.Add(clock.Elapsed.TotalMilliseconds);
                }
            }
        }

        return Stats.Of(samples);
    }

    /// <summary>Insert-heavy work on a tracked database against the same on an untracked one.</summary>
    private static async Task WriteOverheadAsync(DbServer server)
    {
        var schema = Chain(server.Engine, 50);
        await using var tracked = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = schema, MaxDatabases = 1 });
        await using var plain = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = schema, MaxDatabases = 1, UseRespawn = true });
        var bulk = server.Engine == DbEngine.PostgreSql
            ? "INSERT INTO t0 (v) SELECT g FROM generate_series(1, 20000) g"
            : "INSERT INTO t0 (v) SELECT a.n * 200 + b.n FROM (SELECT seq AS n FROM seq_0_to_99) a, (SELECT seq AS n FROM seq_0_to_199) b";
        foreach (var (label, sql, repeat) in new[] { ("2000 single-row INSERTs", "INSERT INTO t0 (v) VALUES (1)", 2000), ("one 20000-row INSERT", bulk, 1) })
        {
            var on = await TimeWritesAsync(tracked, sql, repeat);
            var off = await TimeWritesAsync(plain, sql, repeat);
            Console.WriteLine($"write overhead of tracking, {label}: {on:0.0} ms vs {off:0.0} ms untracked = {(on / off - 1) * 100:+0;-0}%");
        }
    }

    private static async Task<double> TimeWritesAsync(DatabasePool pool, string sql, int repeat)
    {
        var runs = new List<double>();
        for (var run = 0; run < 6; run++)
        {
            await using var db = await pool.LeaseAsync();
            await using var c = await db.OpenConnectionAsync();
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < repeat; i++)
            {
                await ExecuteAsync(c, sql);
            }

            if (run > 0)
            {
                runs.Add(clock.Elapsed.TotalMilliseconds);
            }
        }

        return Stats.Of(runs).Median;
    }

    /// <summary>Tests per second: lease, write 5 rows, read them, give back.</summary>
    private static async Task ThroughputAsync(DbServer server)
    {
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = Chain(server.Engine, 50), MaxDatabases = 4 });
        var line = new StringBuilder("suite throughput (tests/s):");
        foreach (var workers in new[] { 1, 2, 4 })
        {
            const int tests = 400;
            var next = 0;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
            {
                while (Interlocked.Increment(ref next) <= tests)
                {
                    await using var db = await pool.LeaseAsync();
                    await using var c = await db.OpenConnectionAsync();
                    await ExecuteAsync(c, "INSERT INTO t0 (v) VALUES (1); INSERT INTO t0 (v) VALUES (2); INSERT INTO t1 (v) VALUES (3); INSERT INTO t2 (v) VALUES (4); INSERT INTO t3 (v) VALUES (5)");
                    await ExecuteAsync(c, "SELECT COUNT(*) FROM t0");
                }
            })));
            line.Append($" {workers} worker(s) {tests / clock.Elapsed.TotalSeconds:0};");
        }

        Console.WriteLine(line);
    }

    private static Func<DbConnection, Task> Chain(DbEngine engine, int count) => c =>
    {
        var id = engine == DbEngine.PostgreSql ? "SERIAL PRIMARY KEY" : "INT AUTO_INCREMENT PRIMARY KEY";
        var sql = new StringBuilder();
        for (var i = 0; i < count; i++)
        {
            sql.Append($"CREATE TABLE t{i} (id {id}, v INT NOT NULL{(i == 0 ? "" : $", parent_id INT NULL REFERENCES t{i - 1} (id)")});");
        }

        return ExecuteAsync(c, sql.ToString());
    };

    private static async Task ExecuteAsync(DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }
}
