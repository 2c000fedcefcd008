using System.Data.Common;
using System.Diagnostics;
using System.Text;
using TestDbKit.Engines;

namespace TestDbKit.Benchmarks;

/// <summary>
/// Per-test reset after a test that wrote to 3 of N tables, against Respawn and against the floor (a
/// bare DELETE of just the dirty tables), on the same server with identical schemas, in one run. Then the
/// write overhead of the change tracking, and suite throughput with 1, 2 and 4 workers. On request, PostgreSQL's
/// logical decoding against the kit's triggers (Reset.Decoding.cs).
/// </summary>
internal static partial class Reset
{
    public static async Task RunAsync(int iterations, IReadOnlyList<DbEngine> engines)
    {
        // --part cost,breakdown,write,throughput (default: these four): a part alone keeps a run short. --part decoding
        // (PostgreSQL, not in the default) measures logical decoding against the kit's triggers (Reset.Decoding.cs).
        var parts = Environment.GetCommandLineArgs().SkipWhile(a => a != "--part").Skip(1).FirstOrDefault()?.Split(',')
            ?? ["cost", "breakdown", "write", "throughput"];
        foreach (var engine in engines)
        {
            await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
            if (parts.Contains("cost"))
            {
                Console.WriteLine($"\n{engine}: reset after writing 3 of N tables, {iterations} resets each in 3 interleaved blocks, ms: median (range of the blocks' medians)");
                Console.WriteLine("  kit: the kit's default (counters restarted); kit-noseq: ResetSequences = false; Respawn: its defaults;");
                Console.WriteLine("  Respawn+reseed: WithReseed = true; floor: a bare DELETE of the 3 written tables on the writer's connection.");
                Console.WriteLine("  Ratios per block, median (range).");
                foreach (var tables in new[] { 50, 200 })
                {
                    await ResetCostAsync(server, tables, iterations);
                }
            }

            if (parts.Contains("breakdown"))
            {
                foreach (var tables in new[] { 50, 200 })
                {
                    await (engine == DbEngine.MySql ? BreakdownAsync(server, tables, iterations) : PostgreSqlBreakdownAsync(server, tables, iterations));
                }
            }

            if (parts.Contains("write"))
            {
                await WriteOverheadAsync(server);
                await MarkVariantsAsync(server);
            }

            if (parts.Contains("throughput"))
            {
                await ThroughputAsync(server);
            }

            if (parts.Contains("decoding"))
            {
                if (engine == DbEngine.PostgreSql)
                {
                    await DecodingAsync(server, iterations);
                }
                else
                {
                    Console.WriteLine($"\n{engine}: decoding is PostgreSQL's only");
                }
            }
        }
    }

    private static readonly string[] Names = ["kit", "kit-noseq", "Respawn", "Respawn+reseed", "floor"];

    private static async Task ResetCostAsync(DbServer server, int tables, int iterations)
    {
        var schema = Chain(server.Engine, tables);
        await using var tracked = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = schema, MaxDatabases = 1 });
        await using var noSeq = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = schema, MaxDatabases = 1, ResetSequences = false });
        await using var respawnDefault = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = schema, MaxDatabases = 1, UseRespawn = true });
        await using var respawnReseed = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = schema, MaxDatabases = 1, UseRespawn = true });
        await using var untracked = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = schema, MaxDatabases = 1, UseRespawn = true });
        var dirty = new[] { "t0", "t1", $"t{tables - 1}" };
        var write = string.Join(";", dirty.Select(t => $"INSERT INTO {t} (v) VALUES (1)"));
        var floorSql = string.Join(";", dirty.Reverse().Select(t => $"DELETE FROM {t}"));

        // Respawn as a user runs it: its own Respawner, on a pooled connection opened for the reset.
        Func<TestDatabase, DbConnection, Task> Respawn(DatabasePool pool, bool reseed)
        {
            Respawn.Respawner? respawner = null;
            return async (db, _) =>
            {
                await using var c = await pool.Dialect.OpenAsync(db.ConnectionString, CancellationToken.None);
                if (respawner is null)
                {
                    var o = pool.Dialect.RespawnOptions(db.Name);
                    respawner = await global::Respawn.Respawner.CreateAsync(c, new Respawn.RespawnerOptions
                    {
                        DbAdapter = o.DbAdapter,
                        SchemasToInclude = o.SchemasToInclude,
                        SchemasToExclude = o.SchemasToExclude,
                        TablesToIgnore = o.TablesToIgnore,
                        WithReseed = reseed,
                    });
                }

                await respawner.ResetAsync(c);
            };
        }

        // Interleaved, one reset of each kind per round, so a noisy neighbour slows them all alike. The
        // floor runs on the connection that wrote, so it pays one round trip and nothing else. Respawn with
        // WithReseed runs next to them, not among them: on MySQL its ALTER TABLE on every table is DDL, which would make
        // each of the kit's resets read its schema fingerprint (as a test's DDL does).
        var blocks = new List<Stats[]>();
        for (var block = 0; block < 3; block++)
        {
            var count = Math.Max(1, iterations / 3);
            var reseeded = await MeasureAsync(write, count, (respawnReseed, Respawn(respawnReseed, reseed: true)));
            var others = await MeasureAsync(write, count,
                (tracked, (db, _) => db.ResetAsync()),
                (noSeq, (db, _) => db.ResetAsync()),
                (respawnDefault, Respawn(respawnDefault, reseed: false)),
                (untracked, (_, writer) => ExecuteAsync(writer, floorSql)));
            blocks.Add([others[0], others[1], others[2], reseeded[0], others[3]]);
        }

        Report(tables, blocks);
    }

    private static string Spread(IEnumerable<double> values, string format)
    {
        var v = values.Order().ToArray();
        return $"{Stats.Of(v).Median.ToString(format, System.Globalization.CultureInfo.InvariantCulture)} ({v[0].ToString(format, System.Globalization.CultureInfo.InvariantCulture)}–{v[^1].ToString(format, System.Globalization.CultureInfo.InvariantCulture)})";
    }

    private static void Report(int tables, List<Stats[]> blocks)
    {
        Console.WriteLine($"  N={tables}:" + string.Concat(Names.Select((n, i) => $" {n} {Spread(blocks.Select(b => b[i].Median), "0.00")};")));
        Console.WriteLine($"  N={tables}: Respawn/kit {Spread(blocks.Select(b => b[2].Median / b[0].Median), "0.0")}x; Respawn+reseed/kit {Spread(blocks.Select(b => b[3].Median / b[0].Median), "0.0")}x; " +
            $"kit/floor {Spread(blocks.Select(b => b[0].Median / b[4].Median), "0.0")}x; kit-noseq/floor {Spread(blocks.Select(b => b[1].Median / b[4].Median), "0.0")}x");
    }

    /// <summary>
    /// MariaDB: where a tracked reset's time goes. Each piece of <c>testdbkit_reset</c> run on its own, on one session,
    /// after the same 3-table write, against the whole reset; medians in ms.
    /// </summary>
    private static async Task BreakdownAsync(DbServer server, int tables, int iterations)
    {
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = Chain(server.Engine, tables), MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();
        await using var writer = await db.OpenConnectionAsync();
        await using var control = await server.OpenAdminConnectionAsync();
        await ExecuteAsync(control, $"USE `{db.Name}`");
        await using var held = await server.OpenAdminConnectionAsync(); // a second session held open, never used by the pool
        var controlCs = pool.Dialect.ControlConnectionString(server.AdminConnectionString, db.Name);
        var dirty = new[] { "t0", "t1", $"t{tables - 1}" };
        var write = string.Join(";", dirty.Select(t => $"INSERT INTO {t} (v) VALUES (1)"));
        var tracker = Engines.MySqlTracker.Instance;
        (string Name, Func<Task> Run)[] steps =
        [
            ("open a pooled session + ping", async () => { await using var c = await pool.Dialect.OpenAsync(db.ConnectionString, CancellationToken.None); await ExecuteAsync(c, "DO 1"); }),
            ("DDL gate (GLOBAL_STATUS)", () => ExecuteAsync(control, Engines.MySqlTracker.DdlCountSql)),
            ("fingerprint", () => ExecuteAsync(control, tracker.FingerprintSql(db.Name))),
            ("busy sessions? (lock list)", () => ExecuteAsync(control, "SELECT " + Engines.MySqlTracker.AnyBusySql)),
            ("TABLE_STATISTICS read", () => ExecuteAsync(control, Engines.MySqlTracker.CollectProbeSql)),
            ("3 DELETEs", () => ExecuteAsync(control, "SET FOREIGN_KEY_CHECKS = 0;" + string.Concat(dirty.Select(t => $"DELETE FROM {t};")) + "SET FOREIGN_KEY_CHECKS = 1")),
            ("3 AUTO_INCREMENT restarts", () => ExecuteAsync(control, string.Concat(dirty.Select(t => $"ALTER TABLE {t} AUTO_INCREMENT = 1;")))),
            ("3 AUTO_INCREMENT restarts through testdbkit_run", () => ExecuteAsync(control, string.Concat(dirty.Select(t => $"CALL testdbkit_run('ALTER TABLE {t} AUTO_INCREMENT = 1');")))),
            ("whole reset (pool)", () => db.ResetAsync()),
            ("whole reset (CALL, held session)", () => ExecuteAsync(control, "CALL testdbkit_reset(TRUE)")),
            ("the kit's pooled control session: open + DO 1", async () => { await using var c = await pool.Dialect.OpenAsync(controlCs, CancellationToken.None); await ExecuteAsync(c, "DO 1"); }),
            ("a held session: DO 1", () => ExecuteAsync(held, "DO 1")),
            ("the kit's pooled control session: open + CALL", async () => { await using var c = await pool.Dialect.OpenAsync(controlCs, CancellationToken.None); await ExecuteAsync(c, $"CALL `{db.Name}`.testdbkit_reset(TRUE)"); }),
            ("whole reset, noseq (CALL, held session)", () => ExecuteAsync(control, "CALL testdbkit_reset(FALSE)")),
        ];
        Console.WriteLine($"  where a MariaDB reset's time goes, N={tables}, medians in ms:" + await StepMediansAsync(steps, db, writer, write, iterations));
    }

    /// <summary>
    /// PostgreSQL: where a tracked reset's time goes. The pieces of <c>testdbkit.reset</c> run on their own on the
    /// control session (the same database, superuser, replica role as the reset leaves it), after the same 3-table
    /// write, beside the whole reset through the pool and the same call on a session held open; medians in ms.
    /// </summary>
    private static async Task PostgreSqlBreakdownAsync(DbServer server, int tables, int iterations)
    {
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = Chain(server.Engine, tables), MaxDatabases = 1 });
        await using var db = await pool.LeaseAsync();
        await using var writer = await db.OpenConnectionAsync();
        await db.ResetAsync();
        var controlCs = new Npgsql.NpgsqlConnectionStringBuilder(server.AdminConnectionString) { Database = db.Name, Pooling = false }.ConnectionString;
        await using var control = await pool.Dialect.OpenAsync(controlCs, CancellationToken.None);
        await ExecuteAsync(control, "SET session_replication_role = replica");
        var dirty = new[] { "t0", "t1", $"t{tables - 1}" };
        var write = string.Join(";", dirty.Select(t => $"INSERT INTO {t} (v) VALUES (1)"));
        (string Name, Func<Task> Run)[] steps =
        [
            ("round trip (SELECT 1)", () => ExecuteAsync(control, "SELECT 1")),
            ("open a pooled session + SELECT 1", async () => { await using var c = await pool.Dialect.OpenAsync(db.ConnectionString, CancellationToken.None); await ExecuteAsync(c, "SELECT 1"); }),
            ("busy sessions scan", () => ExecuteAsync(control,
                "SELECT count(*) FROM pg_catalog.pg_stat_get_activity(NULL) a WHERE a.datid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) " +
                "AND a.pid <> pg_catalog.pg_backend_pid() AND a.backend_type = 'client backend' AND a.state <> 'idle'")),
            ("3 DELETEs (replica role)", () => ExecuteAsync(control, string.Concat(dirty.Select(t => $"DELETE FROM {t};")))),
            ("3 sequences restarted", () => ExecuteAsync(control, string.Concat(dirty.Select(t => $"SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence('{t}', 'id'), 1, false);")))),
            ("bookkeeping (marks, generation)", () => ExecuteAsync(control,
                "SELECT count(*) FROM testdbkit.dirty WHERE tbl <> 0; SELECT pg_catalog.setval('testdbkit.marks', 1, false); SELECT pg_catalog.nextval('testdbkit.generation')")),
            ("whole reset, held session", () => ExecuteAsync(control, "SELECT testdbkit.reset(true)")),
            ("whole reset, noseq, held session", () => ExecuteAsync(control, "SELECT testdbkit.reset(false)")),
            ("whole reset (pool)", () => db.ResetAsync()),
        ];
        Console.WriteLine($"  where a PostgreSQL reset's time goes, N={tables}, medians in ms:" + await StepMediansAsync(steps, db, writer, write, iterations));
    }

    /// <summary>Each step timed after the same write, in turns, the database reset after each; 5 rounds of warm-up.</summary>
    private static async Task<string> StepMediansAsync((string Name, Func<Task> Run)[] steps, TestDatabase db, DbConnection writer, string write, int iterations)
    {
        var samples = steps.Select(_ => new List<double>()).ToArray();
        for (var i = -5; i < iterations; i++)
        {
            for (var s = 0; s < steps.Length; s++)
            {
                await ExecuteAsync(writer, write);
                var clock = Stopwatch.StartNew();
                await steps[s].Run();
                if (i >= 0)
                {
                    samples[s].Add(clock.Elapsed.TotalMilliseconds);
                }

                await db.ResetAsync();
            }
        }

        return string.Concat(steps.Select((s, k) => $" {s.Name} {Stats.Of(samples[k]).Median:0.00};"));
    }

    private static async Task<Stats[]> MeasureAsync(string write, int iterations, params (DatabasePool Pool, Func<TestDatabase, DbConnection, Task> Reset)[] variants)
    {
        var samples = variants.Select(_ => new List<double>()).ToArray();
        var dbs = new List<TestDatabase>();
        var writers = new List<DbConnection>();
        try
        {
            foreach (var (pool, _) in variants)
            {
                dbs.Add(await pool.LeaseAsync());
                writers.Add(await dbs[^1].OpenConnectionAsync());
            }

            for (var i = -5; i < iterations; i++)
            {
                for (var v = 0; v < variants.Length; v++)
                {
                    await ExecuteAsync(writers[v], write);
                    var clock = Stopwatch.StartNew();
                    await variants[v].Reset(dbs[v], writers[v]);
                    if (i >= 0)
                    {
                        samples[v].Add(clock.Elapsed.TotalMilliseconds);
                    }
                }
            }
        }
        finally
        {
            foreach (var writer in writers)
            {
                await writer.DisposeAsync();
            }

            foreach (var db in dbs)
            {
                await db.DisposeAsync();
            }
        }

        return [.. samples.Select(Stats.Of)];
    }

    /// <summary>
    /// Insert-heavy work on a tracked database against the same on an untracked one, in alternating runs.
    /// MariaDB: the kit's row counters cost the server <c>userstat</c>, which is server-wide, so the untracked
    /// side runs with it off (switched before each statement or run, outside the timing); the trigger marks,
    /// which MySQL still uses, are measured the same way.
    /// </summary>
    private static async Task WriteOverheadAsync(DbServer server)
    {
        var pg = server.Engine == DbEngine.PostgreSql;
        var schema = Chain(server.Engine, 50);
        await using var admin = await server.OpenAdminConnectionAsync();
        await using var plain = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = schema, MaxDatabases = 1, UseRespawn = true });
        var variants = new List<(string Name, DatabasePool Pool, string Before)> { (pg ? "statement triggers" : "row counters", await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = schema, MaxDatabases = 1 }), pg ? "" : "SET GLOBAL userstat = 1") };
        if (!pg)
        {
            variants.Add(("row triggers", await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = schema, MaxDatabases = 1, TrackWithTriggers = true }), "SET GLOBAL userstat = 0"));
        }

        var untracked = pg ? "" : "SET GLOBAL userstat = 0";
        var bulk = pg
            ? "INSERT INTO t0 (v) SELECT g FROM generate_series(1, 20000) g"
            : "INSERT INTO t0 (v) SELECT a.n * 200 + b.n FROM (SELECT seq AS n FROM seq_0_to_99) a, (SELECT seq AS n FROM seq_0_to_199) b";
        try
        {
            var dbs = new List<TestDatabase>();
            var connections = new List<DbConnection>();
            foreach (var pool in variants.Select(v => v.Pool).Prepend(plain))
            {
                dbs.Add(await pool.LeaseAsync());
                connections.Add(await dbs[^1].OpenConnectionAsync());
                await ExecuteAsync(connections[^1], Truncate(server.Engine, "t0"));
            }

            // All sides on one connection: across two connections the server processes' placement on the
            // cores alone moved the ratio by 10 points from run to run. PostgreSQL: the same tracked database,
            // t1 with its mark and t2 (same shape) with the mark switched off; MariaDB: each database's t0 by its full name.
            (DbConnection Connection, string Sql, string Before)[] sides;
            if (pg)
            {
                var c = connections[1];
                await ExecuteAsync(c, $"ALTER TABLE t2 DISABLE TRIGGER testdbkit_dirty; {Truncate(server.Engine, "t1")}; {Truncate(server.Engine, "t2")}");
                sides = [(c, "INSERT INTO t2 (v) VALUES (1)", ""), (c, "INSERT INTO t1 (v) VALUES (1)", "")];
            }
            else
            {
                sides = [.. variants.Select((v, i) => (connections[0], $"INSERT INTO `{dbs[i + 1].Name}`.t0 (v) VALUES (1)", v.Before))
                    .Prepend((connections[0], $"INSERT INTO `{dbs[0].Name}`.t0 (v) VALUES (1)", untracked))];
            }

            // Five rounds; each round's medians give a ratio, and the median ratio is reported, so one slow
            // stretch of the machine does not decide the number.
            var rounds = new List<double[]>();
            for (var round = 0; round < 5; round++)
            {
                rounds.Add(await PerStatementAsync(1000, admin, sides));
            }

            var medians = Enumerable.Range(0, sides.Length).Select(k => Stats.Of(rounds.Select(r => r[k]).ToArray()).Median).ToArray();
            Console.WriteLine($"write overhead of tracking, single-row INSERTs on one connection (statements alternating; median of 5 rounds), untracked {medians[0] * 1000:0} µs:" +
                string.Concat(variants.Select((v, i) => $" {v.Name} {medians[i + 1] * 1000:0} µs, {Stats.Change(Stats.Of(rounds.Select(r => r[i + 1] / r[0]).ToArray()).Median)};")));
            foreach (var c in connections)
            {
                await c.DisposeAsync();
            }

            foreach (var db in dbs)
            {
                await db.DisposeAsync();
            }

            foreach (var (name, pool, before) in variants)
            {
                var on = new List<double>();
                var off = new List<double>();
                var ratios = new List<double>();
                for (var run = -1; run < 30; run++)
                {
                    // Pairs close in time, in alternating order; the median of the pairs' ratios ignores the
                    // bursts of other work on the machine.
                    var trackedFirst = run % 2 == 0;
                    var a = trackedFirst ? await TimeWritesAsync(pool, before, admin, bulk) : await TimeWritesAsync(plain, untracked, admin, bulk);
                    var b = trackedFirst ? await TimeWritesAsync(plain, untracked, admin, bulk) : await TimeWritesAsync(pool, before, admin, bulk);
                    var (t, u) = trackedFirst ? (a, b) : (b, a);
                    if (run >= 0)
                    {
                        on.Add(t);
                        off.Add(u);
                        ratios.Add(t / u);
                    }
                }

                var (withTracking, without) = (Stats.Of(on), Stats.Of(off));
                Console.WriteLine($"write overhead of {name}, one 20000-row INSERT: {withTracking.Median:0.0} ms vs {without.Median:0.0} ms untracked, " +
                    $"median of paired ratios {Stats.Change(Stats.Of(ratios).Median)}, fastest runs {Stats.Change(withTracking.Min / without.Min)}");
            }
        }
        finally
        {
            foreach (var (_, pool, _) in variants)
            {
                await pool.DisposeAsync();
            }

            if (!pg)
            {
                await ExecuteAsync(admin, "SET GLOBAL userstat = 1");
            }
        }
    }

    /// <summary>
    /// What the trigger alone, and other marks, would cost, each against a table without a trigger.
    /// PostgreSQL: statement triggers that do nothing, on single-row INSERTs. MariaDB, on one 20000-row
    /// INSERT … SELECT in alternating runs: an empty row trigger, one that only sets a variable, a
    /// per-statement guard keyed on NOW(6), a generation read per row, and the kit's mark.
    /// </summary>
    private static async Task MarkVariantsAsync(DbServer server)
    {
        var pg = server.Engine == DbEngine.PostgreSql;
        (string Name, string Trigger)[] variants = pg
            ?
            [
                ("an AFTER statement trigger that does nothing", "AFTER INSERT ON {0} FOR EACH STATEMENT EXECUTE FUNCTION do_nothing()"),
                ("a BEFORE one", "BEFORE INSERT ON {0} FOR EACH STATEMENT EXECUTE FUNCTION do_nothing()"),
                ("one whose WHEN is always false", "BEFORE INSERT ON {0} FOR EACH STATEMENT WHEN (false) EXECUTE FUNCTION do_nothing()"),
                ("one whose WHEN reads a session setting", "BEFORE INSERT ON {0} FOR EACH STATEMENT WHEN (pg_catalog.current_setting('testdbkit.none', true) IS NOT NULL) EXECUTE FUNCTION do_nothing()"),
            ]
            :
            [
                ("empty trigger", "BEGIN END"),
                ("SET @variable", "SET @tdk_v = 1"),
                ("NOW(6) guard + mark", "IF NOT (@tdk_g <=> NOW(6)) THEN INSERT IGNORE INTO marks VALUES ('g'); SET @tdk_g = NOW(6); END IF"),
                ("generation read per row + mark", "IF NOT (@tdk_r <=> (SELECT g FROM generation)) THEN INSERT IGNORE INTO marks VALUES ('r'); SET @tdk_r = (SELECT g FROM generation); END IF"),
                ("the kit's mark", "INSERT IGNORE INTO marks VALUES ('k')"),
            ];
        var id = pg ? "SERIAL PRIMARY KEY" : "INT AUTO_INCREMENT PRIMARY KEY";
        // One statement per command: trigger bodies hold semicolons.
        var schema = pg
            ? new List<string> { "CREATE FUNCTION do_nothing() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN RETURN NULL; END $f$" }
            : ["CREATE TABLE marks (tbl VARCHAR(64) NOT NULL PRIMARY KEY) ENGINE=MEMORY", "CREATE TABLE generation (g BIGINT NOT NULL) ENGINE=MEMORY", "INSERT INTO generation VALUES (1)"];
        schema.Add($"CREATE TABLE bare (id {id}, v INT NOT NULL)");
        schema.Add($"CREATE TABLE kit (id {id}, v INT NOT NULL)");
        for (var i = 0; i < variants.Length; i++)
        {
            schema.Add($"CREATE TABLE v{i} (id {id}, v INT NOT NULL)");
            schema.Add(pg ? $"CREATE TRIGGER v{i}_mark " + string.Format(variants[i].Trigger, $"v{i}")
                : $"CREATE TRIGGER v{i}_mark AFTER INSERT ON v{i} FOR EACH ROW {variants[i].Trigger}");
        }

        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions
        {
            CreateSchema = async c =>
            {
                foreach (var statement in schema)
                {
                    await ExecuteAsync(c, statement);
                }
            },
            MaxDatabases = 1,
            UseRespawn = !pg, // PostgreSQL: the kit's mark on table kit, switched off on the others
        });
        await using var db = await pool.LeaseAsync();
        await using var c = await db.OpenConnectionAsync();
        async Task<double> WriteAsync(string table)
        {
            await ExecuteAsync(c, $"TRUNCATE TABLE {table}");
            var clock = Stopwatch.StartNew();
            await ExecuteAsync(c, $"INSERT INTO {table} (v) SELECT a.seq * 200 + b.seq FROM seq_0_to_99 a, seq_0_to_199 b");
            return clock.Elapsed.TotalMilliseconds;
        }

        if (pg)
        {
            var others = Enumerable.Range(0, variants.Length).Select(i => $"v{i}").Append("bare");
            await ExecuteAsync(c, string.Concat(others.Select(t => $"ALTER TABLE {t} DISABLE TRIGGER testdbkit_dirty;")));
            var medians = await PerStatementAsync(3000, c,
                [(c, "INSERT INTO bare (v) VALUES (1)", ""), (c, "INSERT INTO kit (v) VALUES (1)", ""), .. variants.Select((_, i) => (c, $"INSERT INTO v{i} (v) VALUES (1)", ""))]);
            Console.WriteLine($"triggers on single-row INSERTs, one connection (medians, statements alternating): the kit's mark {Stats.Change(medians[1] / medians[0])};" +
                string.Concat(variants.Select((v, i) => $" {v.Name} {Stats.Change(medians[i + 2] / medians[0])};")));
            return;
        }

        var line = new StringBuilder("MariaDB row-trigger marks on one 20000-row INSERT (median of paired ratios):");
        for (var i = 0; i < variants.Length; i++)
        {
            var ratios = new List<double>();
            for (var run = -1; run < 15; run++)
            {
                var (first, second) = run % 2 == 0 ? ($"v{i}", "bare") : ("bare", $"v{i}");
                var (a, b) = (await WriteAsync(first), await WriteAsync(second));
                var (withTrigger, bare) = first == "bare" ? (b, a) : (a, b);
                if (run >= 0)
                {
                    ratios.Add(withTrigger / bare);
                }
            }

            line.Append($" {variants[i].Name} {Stats.Change(Stats.Of(ratios).Median)};");
        }

        Console.WriteLine(line);
    }

    private static string Truncate(DbEngine engine, string table) => engine == DbEngine.PostgreSql
        ? $"TRUNCATE {table} CASCADE"
        : $"SET FOREIGN_KEY_CHECKS = 0; TRUNCATE TABLE {table}; SET FOREIGN_KEY_CHECKS = 1";

    /// <summary>
    /// Statements timed one by one, taking turns between the sides in rotating order, so a burst of other
    /// work on the machine hits every side alike. A side's <c>Before</c> runs on <paramref name="admin"/> first,
    /// untimed. Returns each side's median, in milliseconds.
    /// </summary>
    private static async Task<double[]> PerStatementAsync(int count, DbConnection admin, params (DbConnection Connection, string Sql, string Before)[] sides)
    {
        var samples = sides.Select(_ => new List<double>()).ToArray();
        for (var i = -200; i < count; i++)
        {
            for (var k = 0; k < sides.Length; k++)
            {
                var side = (((k + i) % sides.Length) + sides.Length) % sides.Length;
                if (sides[side].Before.Length > 0)
                {
                    await ExecuteAsync(admin, sides[side].Before);
                }

                var clock = Stopwatch.StartNew();
                await ExecuteAsync(sides[side].Connection, sides[side].Sql);
                if (i >= 0)
                {
                    samples[side].Add(clock.Elapsed.TotalMilliseconds);
                }
            }
        }

        return [.. samples.Select(x => Stats.Of(x).Median)];
    }

    private static async Task<double> TimeWritesAsync(DatabasePool pool, string before, DbConnection admin, string sql)
    {
        await using var db = await pool.LeaseAsync();
        await using var c = await db.OpenConnectionAsync();
        // Both sides start from a truncated table: the kit's reset DELETEs, Respawn's TRUNCATEs, and the dead
        // rows a DELETE leaves (until vacuum) would slow the next writes of the same ids on one side only.
        await ExecuteAsync(c, Truncate(pool.Server.Engine, "t0"));
        if (before.Length > 0)
        {
            await ExecuteAsync(admin, before);
        }

        var clock = Stopwatch.StartNew();
        await ExecuteAsync(c, sql);
        return clock.Elapsed.TotalMilliseconds;
    }

    /// <summary>Tests per second: lease, write 5 rows, read them, give back; with the kit's default reset and with
    /// <c>ResetSequences = false</c> (on MySQL every counter restart is DDL that moves the server-wide DDL count, so the
    /// other databases' next resets read their fingerprint).</summary>
    private static async Task ThroughputAsync(DbServer server)
    {
        foreach (var resetSequences in new[] { true, false })
        {
            await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = Chain(server.Engine, 50), MaxDatabases = 4, ResetSequences = resetSequences });
            var line = new StringBuilder($"suite throughput (tests/s), {(resetSequences ? "kit default" : "ResetSequences = false")}:");
            var rates = new List<double>();
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
                rates.Add(tests / clock.Elapsed.TotalSeconds);
                line.Append($" {workers} worker(s) {rates[^1]:0};");
            }

            Console.WriteLine(line.Append($" 4 workers / 1: {rates[2] / rates[0]:0.00}x"));
        }
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
