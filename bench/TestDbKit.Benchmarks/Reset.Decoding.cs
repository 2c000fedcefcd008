using System.Data.Common;
using System.Diagnostics;
using TestDbKit.Engines;

namespace TestDbKit.Benchmarks;

// Reset, part "decoding" (PostgreSQL): would logical decoding be a cheaper way than the kit's statement triggers to
// learn which tables a test wrote? Measured, not adopted: see the README's reset section for the verdict.
internal static partial class Reset
{
    private const string Slot = "tdk_bench";

    // The tables a slot's pending changes touched, named as test_decoding prints them ("table public.t0: INSERT: …").
    // Reading the changes consumes them, as a reset would.
    private const string ReadSlot =
        "SELECT DISTINCT substring(data FROM '^table ([^:]+):') FROM pg_catalog.pg_logical_slot_get_changes('" + Slot +
        "', NULL, NULL, 'skip-empty-xacts', '1', 'include-xids', '0') WHERE data LIKE 'table %'";

    // What the slot replaces in the kit's reset: reading the marks the triggers left, clearing them, a new generation.
    private const string ReadMarks =
        "SELECT count(*) FROM testdbkit.dirty WHERE tbl <> 0; SELECT pg_catalog.setval('testdbkit.marks', 1, false); SELECT pg_catalog.nextval('testdbkit.generation')";

    /// <summary>
    /// A second server at <c>wal_level = logical</c> (the kit's run at the default, <c>replica</c>) with a
    /// <c>test_decoding</c> slot on an untracked database, against the kit's triggers on its own server: the cost of a
    /// single-row INSERT on each, then the cost of learning the written tables at a reset, alone and when another
    /// database of the server wrote meanwhile (decoding reads the whole server's WAL, whichever database wrote it).
    /// </summary>
    private static async Task DecodingAsync(DbServer server, int iterations)
    {
        await using var logical = await DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions
        {
            Provider = DbServerProvider.Local,
            Settings = new Dictionary<string, string> { ["wal_level"] = "logical" },
        });
        var schema = Chain(DbEngine.PostgreSql, 50);
        await using var tracked = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = schema, MaxDatabases = 1 });
        await using var plain = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = schema, MaxDatabases = 1, UseRespawn = true });
        await using var decoded = await DatabasePool.CreateAsync(logical, new DatabasePoolOptions { CreateSchema = schema, MaxDatabases = 1, UseRespawn = true });
        await using var neighbour = await DatabasePool.CreateAsync(logical, new DatabasePoolOptions { CreateSchema = schema, MaxDatabases = 1, UseRespawn = true });
        await using var trackedDb = await tracked.LeaseAsync();
        await using var plainDb = await plain.LeaseAsync();
        await using var decodedDb = await decoded.LeaseAsync();
        await using var neighbourDb = await neighbour.LeaseAsync();
        await using var trackedWriter = await trackedDb.OpenConnectionAsync();
        await using var plainWriter = await plainDb.OpenConnectionAsync();
        await using var decodedWriter = await decodedDb.OpenConnectionAsync();
        await using var neighbourWriter = await neighbourDb.OpenConnectionAsync();
        // The slot needs the replication privilege: the administrator reads it, on the decoded database.
        await using var reader = await decoded.Dialect.OpenAsync(
            new Npgsql.NpgsqlConnectionStringBuilder(logical.AdminConnectionString) { Database = decodedDb.Name, Pooling = false }.ConnectionString, CancellationToken.None);
        await using var marks = await tracked.Dialect.OpenAsync(
            new Npgsql.NpgsqlConnectionStringBuilder(server.AdminConnectionString) { Database = trackedDb.Name, Pooling = false }.ConnectionString, CancellationToken.None);
        await ExecuteAsync(marks, "SET session_replication_role = replica");
        await ExecuteAsync(reader, $"SELECT pg_catalog.pg_create_logical_replication_slot('{Slot}', 'test_decoding')");
        try
        {
            // The premise: the server decodes, and the slot names exactly the tables written since it was last read.
            var level = await ScalarAsync(reader, "SHOW wal_level");
            await ExecuteAsync(decodedWriter, "INSERT INTO t0 (v) VALUES (1); INSERT INTO t1 (v) VALUES (1); INSERT INTO t49 (v) VALUES (1)");
            var named = await ColumnAsync(reader, ReadSlot);
            if (level != "logical" || !named.Order().SequenceEqual(["public.t0", "public.t1", "public.t49"]))
            {
                throw new InvalidOperationException($"Decoding premise failed: wal_level {level}, the slot named [{string.Join(", ", named)}] where t0, t1 and t49 were written.");
            }

            await ExecuteAsync(decodedWriter, "DELETE FROM t49; DELETE FROM t1; DELETE FROM t0");
            await ColumnAsync(reader, ReadSlot);

            // Writes: single-row INSERTs alternating between an untracked table of the kit's server, a table of the same
            // server with the kit's trigger (marked once, as after a test's first write), and an untracked table of
            // the logical server whose slot is read after each round, as resets would.
            await ExecuteAsync(trackedWriter, "INSERT INTO t1 (v) VALUES (1)");
            var rounds = new List<double[]>();
            for (var round = 0; round < 5; round++)
            {
                rounds.Add(await PerStatementAsync(1000, plainWriter,
                    (plainWriter, "INSERT INTO t0 (v) VALUES (1)", ""),
                    (trackedWriter, "INSERT INTO t1 (v) VALUES (1)", ""),
                    (decodedWriter, "INSERT INTO t0 (v) VALUES (1)", "")));
                await ColumnAsync(reader, ReadSlot);
            }

            string Ratio(int k) => Stats.Change(Stats.Of(rounds.Select(r => r[k] / r[0]).ToArray()).Median);
            var medians = Enumerable.Range(0, 3).Select(k => Stats.Of(rounds.Select(r => r[k]).ToArray()).Median * 1000).ToArray();
            Console.WriteLine($"  logical decoding, single-row INSERTs (median of 5 rounds): untracked {medians[0]:0} µs; the kit's trigger {medians[1]:0} µs, {Ratio(1)}; " +
                $"untracked at wal_level=logical with a slot {medians[2]:0} µs, {Ratio(2)} (two servers: their placement on the cores moves this by several points)");
            await ExecuteAsync(decodedWriter, "TRUNCATE t0 CASCADE");
            await ColumnAsync(reader, ReadSlot);
            await trackedDb.ResetAsync();

            // Learning the written tables at a reset, after the same 3-table write: the kit's marks against the slot, and
            // the slot again when another database wrote 20 transactions of 5 rows meanwhile (parallel tests).
            var write = "INSERT INTO t0 (v) VALUES (1); INSERT INTO t1 (v) VALUES (1); INSERT INTO t49 (v) VALUES (1)";
            var busy = string.Concat(Enumerable.Range(0, 5).Select(i => $"INSERT INTO t{i} (v) VALUES (1);"));
            var samples = new[] { new List<double>(), new List<double>(), new List<double>() };
            for (var i = -5; i < iterations; i++)
            {
                await ExecuteAsync(trackedWriter, write);
                var clock = Stopwatch.StartNew();
                await ExecuteAsync(marks, ReadMarks);
                Keep(samples[0], i, clock);
                await trackedDb.ResetAsync();

                for (var alone = 1; alone <= 2; alone++)
                {
                    await ExecuteAsync(decodedWriter, write);
                    if (alone == 2)
                    {
                        for (var t = 0; t < 20; t++)
                        {
                            await ExecuteAsync(neighbourWriter, busy);
                        }
                    }

                    clock.Restart();
                    var tables = await ColumnAsync(reader, ReadSlot);
                    Keep(samples[alone], i, clock);
                    if (tables.Count != 3)
                    {
                        throw new InvalidOperationException($"The slot named {tables.Count} tables where 3 were written.");
                    }

                    // The reset's own DELETEs are changes too: read past them untimed, as a reset could tag and skip them.
                    await ExecuteAsync(decodedWriter, "DELETE FROM t49; DELETE FROM t1; DELETE FROM t0");
                    await ExecuteAsync(neighbourWriter, "TRUNCATE t0 CASCADE");
                    await ColumnAsync(reader, ReadSlot);
                }
            }

            // A slot decodes again from its restart point, which moves only when the server logs its running transactions
            // (every 15 s, or at a checkpoint): the WAL between there and now is what each read goes through.
            var behind = await ScalarAsync(reader, $"SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::bigint / 1024 FROM pg_catalog.pg_replication_slots WHERE slot_name = '{Slot}'");
            string Of(List<double> s) => $"{Stats.Of(s).Median:0.00} (min {Stats.Of(s).Min:0.00})";
            Console.WriteLine($"  learning the 3 written tables at a reset, ms, median (min): the kit's marks (read, cleared, new generation) {Of(samples[0])}; " +
                $"the slot read {Of(samples[1])}; the slot read after another database's 20 transactions {Of(samples[2])}; the slot's restart point {behind:0} KiB of WAL behind at the end");
        }
        finally
        {
            await ExecuteAsync(reader, $"SELECT pg_catalog.pg_drop_replication_slot('{Slot}')");
        }
    }

    private static void Keep(List<double> samples, int iteration, Stopwatch clock)
    {
        if (iteration >= 0)
        {
            samples.Add(clock.Elapsed.TotalMilliseconds);
        }
    }

    private static async Task<string?> ScalarAsync(DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (await command.ExecuteScalarAsync())?.ToString();
    }

    private static async Task<List<string>> ColumnAsync(DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var r = await command.ExecuteReaderAsync();
        var values = new List<string>();
        while (await r.ReadAsync())
        {
            values.Add(r.GetString(0));
        }

        return values;
    }
}
