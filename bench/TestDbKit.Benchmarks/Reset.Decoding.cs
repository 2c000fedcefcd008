using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
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

    // What the slot would replace in the kit's reset: the marked tables named, the marks cleared, a new generation.
    private const string ReadMarks =
        "SELECT tbl::regclass::text FROM testdbkit.dirty WHERE tbl <> 0; DELETE FROM testdbkit.dirty WHERE tbl <> 0; " +
        "SELECT pg_catalog.setval('testdbkit.marks', 1, false); SELECT pg_catalog.nextval('testdbkit.generation')";

    // How far the slot decodes from: its restart point moves only when the server logs its running transactions
    // (every 15 s, or at a checkpoint; pg_log_standby_snapshot() from PostgreSQL 16), so every read goes again
    // through all the server's WAL since then, whichever database wrote it.
    private const string Backlog =
        "SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), restart_lsn)::bigint FROM pg_catalog.pg_replication_slots WHERE slot_name = '" + Slot + "'";

    private static readonly string[] Written = ["t0", "t1", "t49"];

    /// <summary>
    /// A second server at <c>wal_level = logical</c> (the kit's run at the default, <c>replica</c>) with a
    /// <c>test_decoding</c> slot on an untracked database, against the kit's triggers on its own server: the cost of a
    /// single-row INSERT on each, then the cost of learning the written tables at a reset: with the restart point
    /// where this loop's own WAL leaves it, just after it moved (a checkpoint first, untimed), and just after it moved
    /// when another database then wrote 20 transactions (parallel tests).
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
        if (Convert.ToString(await reader.ScalarAsync("SHOW wal_level", CancellationToken.None), CultureInfo.InvariantCulture) is not "logical" and var level)
        {
            throw new InvalidOperationException($"Decoding premise failed: the second server runs at wal_level {level}, not logical.");
        }

        await ExecuteAsync(reader, $"SELECT pg_catalog.pg_create_logical_replication_slot('{Slot}', 'test_decoding')");
        try
        {
            var write = string.Concat(Written.Select(t => $"INSERT INTO {t} (v) VALUES (1);"));
            var empty = string.Concat(Written.Reverse().Select(t => $"DELETE FROM {t};"));

            // The premise: the slot names exactly the tables written since it was last read.
            await ExecuteAsync(decodedWriter, write);
            await ExpectWrittenAsync(reader, ReadSlot, "the slot");
            await ExecuteAsync(decodedWriter, empty);
            await ConsumeSlotAsync(reader);

            await DecodingWritesAsync(trackedWriter, plainWriter, decodedWriter, reader);

            // Learning the written tables at a reset, after the same 3-table write each time.
            var busy = string.Concat(Enumerable.Range(0, 5).Select(i => $"INSERT INTO t{i} (v) VALUES (1);"));
            var busyEmpty = string.Concat(Enumerable.Range(0, 5).Reverse().Select(i => $"DELETE FROM t{i};"));
            string[] names = ["the kit's marks", "the slot, as this loop leaves its restart point", "the slot, its restart point just moved", "the same, another database wrote 20 transactions"];
            var samples = names.Select(_ => new List<double>()).ToArray();
            var backlogs = names.Select(_ => new List<double>()).ToArray();
            var clock = new Stopwatch();
            for (var i = -5; i < iterations; i++)
            {
                await ExecuteAsync(trackedWriter, write);
                clock.Restart();
                await ExpectWrittenAsync(marks, ReadMarks, "the kit's marks");
                Keep(samples[0], i, clock);
                await ExecuteAsync(marks, empty);

                for (var v = 1; v < names.Length; v++)
                {
                    if (v >= 2)
                    {
                        // Untimed: a checkpoint logs the running transactions, and a read past it moves the restart point.
                        await ExecuteAsync(reader, "CHECKPOINT");
                        await ConsumeSlotAsync(reader);
                    }

                    await ExecuteAsync(decodedWriter, write);
                    if (v == 3)
                    {
                        for (var t = 0; t < 20; t++)
                        {
                            await ExecuteAsync(neighbourWriter, busy);
                        }
                    }

                    if (i >= 0)
                    {
                        backlogs[v].Add(Convert.ToDouble(await reader.ScalarAsync(Backlog, CancellationToken.None), CultureInfo.InvariantCulture) / 1024);
                    }

                    clock.Restart();
                    await ExpectWrittenAsync(reader, ReadSlot, "the slot");
                    Keep(samples[v], i, clock);

                    // The cleanup's changes are read past untimed (a reset could tag its own and skip them).
                    await ExecuteAsync(decodedWriter, empty);
                    if (v == 3)
                    {
                        await ExecuteAsync(neighbourWriter, busyEmpty);
                    }

                    await ConsumeSlotAsync(reader);
                }
            }

            Console.WriteLine("  learning the 3 written tables at a reset, ms, median (min), and the WAL the slot decoded from (median KiB):");
            for (var v = 0; v < names.Length; v++)
            {
                Console.WriteLine($"    {names[v]}: {Stats.Of(samples[v]).Median:0.00} ({Stats.Of(samples[v]).Min:0.00})" +
                    (v == 0 ? "" : $", {Stats.Of(backlogs[v]).Median:0} KiB"));
            }
        }
        finally
        {
            try
            {
                await ExecuteAsync(reader, $"SELECT pg_catalog.pg_drop_replication_slot('{Slot}')");
            }
            catch (DbException e)
            {
                // The server is this run's own and goes with it; don't hide the error that brought us here.
                Console.Error.WriteLine($"  (the slot could not be dropped: {e.Message})");
            }
        }
    }

    /// <summary>Single-row INSERTs, statements alternating: on the kit's server an untracked table and a tracked one
    /// (marked once, as after a test's first write) on one connection, an untracked table of another database on
    /// another connection (what two connections alone move), and an untracked table of the logical server whose slot
    /// is read after each round, as resets would.</summary>
    private static async Task DecodingWritesAsync(DbConnection trackedWriter, DbConnection plainWriter, DbConnection decodedWriter, DbConnection reader)
    {
        await ExecuteAsync(trackedWriter, "ALTER TABLE t2 DISABLE TRIGGER testdbkit_dirty; INSERT INTO t1 (v) VALUES (1)");
        var rounds = new List<double[]>();
        for (var round = 0; round < 5; round++)
        {
            rounds.Add(await PerStatementAsync(1000, plainWriter,
                (trackedWriter, "INSERT INTO t2 (v) VALUES (1)", ""),
                (trackedWriter, "INSERT INTO t1 (v) VALUES (1)", ""),
                (plainWriter, "INSERT INTO t0 (v) VALUES (1)", ""),
                (decodedWriter, "INSERT INTO t0 (v) VALUES (1)", "")));
            await ConsumeSlotAsync(reader);
        }

        string Side(int k) => $"{Stats.Of(rounds.Select(r => r[k]).ToArray()).Median * 1000:0} µs, {Stats.Change(Stats.Of(rounds.Select(r => r[k] / r[0]).ToArray()).Median)}";
        Console.WriteLine($"  logical decoding, single-row INSERTs (median of 5 rounds), against an untracked table on the tracked one's connection " +
            $"({Stats.Of(rounds.Select(r => r[0]).ToArray()).Median * 1000:0} µs): the kit's trigger {Side(1)}; untracked on another connection {Side(2)}; " +
            $"untracked at wal_level=logical with a slot (another server) {Side(3)}");
        await ExecuteAsync(trackedWriter, "ALTER TABLE t2 ENABLE ALWAYS TRIGGER testdbkit_dirty; DELETE FROM t2; DELETE FROM t1");
        await ExecuteAsync(plainWriter, "DELETE FROM t0");
        await ExecuteAsync(decodedWriter, "DELETE FROM t0");
        await ConsumeSlotAsync(reader);
    }

    /// <summary>Runs <paramref name="sql"/>, whose first result names the written tables, and checks that they are
    /// exactly t0, t1 and t49.</summary>
    private static async Task ExpectWrittenAsync(DbConnection connection, string sql, string what)
    {
        var named = (await connection.ReadColumnAsync(sql, r => r.GetString(0), CancellationToken.None)).Select(n => n.StartsWith("public.", StringComparison.Ordinal) ? n["public.".Length..] : n).Order().ToList();
        if (!named.SequenceEqual(Written))
        {
            throw new InvalidOperationException($"{what} named [{string.Join(", ", named)}] where {string.Join(", ", Written)} were written.");
        }
    }

    /// <summary>Reads the slot's pending changes, untimed, so the next read starts after them.</summary>
    private static Task<List<string>> ConsumeSlotAsync(DbConnection reader) => reader.ReadColumnAsync(ReadSlot, r => r.GetString(0), CancellationToken.None);

    private static void Keep(List<double> samples, int iteration, Stopwatch clock)
    {
        if (iteration >= 0)
        {
            samples.Add(clock.Elapsed.TotalMilliseconds);
        }
    }
}
