using System.Data;
using System.Data.Common;
using TestDbKit.Engines;

namespace TestDbKit.Tests.Databases;

public sealed class DatabasePoolTests
{
    [Theory]
    [MemberData(nameof(TrackedSetups))]
    public async Task Rows_committed_on_any_connection_are_gone_for_the_next_lease_and_ids_restart(DbEngine engine, bool triggers)
    {
        await using var pool = await CreatePoolAsync(engine, triggers, Schemas.Small(engine), maxDatabases: 1);
        Assert.True(pool.IsTracking, "change tracking was not installed");
        string name;
        await using (var db = await pool.LeaseAsync())
        {
            name = db.Name;
            await using var first = await db.OpenConnectionAsync();
            await using var second = await db.OpenConnectionAsync();
            Assert.Equal(1, await first.InsertItemAsync(engine, "x"));
            Assert.Equal(2, await second.InsertItemAsync(engine, "y"));
            await second.ExecuteAsync("INSERT INTO notes (tag, body) VALUES ('k', 'v')");
        }

        await using (var db = await pool.LeaseAsync())
        {
            Assert.Equal(name, db.Name); // the same database, reset, not a new one
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("items"));
            Assert.Equal(0, await connection.CountAsync("notes"));
            Assert.Equal(1, await connection.InsertItemAsync(engine, "again"));
        }
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Ids_keep_counting_when_sequence_reset_is_off(DbEngine engine)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1, ResetSequences = false });
        await using (var db = await pool.LeaseAsync())
        {
            await using var c = await db.OpenConnectionAsync();
            await c.InsertItemAsync(engine, "x");
        }

        await using (var db = await pool.LeaseAsync())
        {
            await using var c = await db.OpenConnectionAsync();
            Assert.Equal(2, await c.InsertItemAsync(engine, "y"));
        }
    }

    [Theory]
    [MemberData(nameof(TrackedSetups))]
    public async Task Parallel_tests_see_only_their_own_rows(DbEngine engine, bool triggers)
    {
        await using var pool = await CreatePoolAsync(engine, triggers, Schemas.Small(engine), maxDatabases: 3);
        var names = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Task.WhenAll(Enumerable.Range(0, 12).Select(i => Task.Run(async () =>
        {
            await using var db = await pool.LeaseAsync();
            names.Add(db.Name);
            await using var connection = await db.OpenConnectionAsync();
            for (var row = 0; row < 5; row++)
            {
                await connection.InsertItemAsync(engine, $"test{i}");
            }

            await Task.Yield();
            Assert.Equal(5, await connection.CountAsync("items"));
            Assert.Equal(5, await connection.CountAsync($"items WHERE tag = 'test{i}'"));
        })));
        Assert.InRange(names.Distinct().Count(), 1, 3);
    }

    [Theory]
    [MemberData(nameof(TrackedSetups))]
    public async Task A_test_that_leaves_an_open_transaction_or_a_killed_connection_leaves_a_clean_database(DbEngine engine, bool triggers)
    {
        await using var pool = await CreatePoolAsync(engine, triggers, Schemas.Small(engine), maxDatabases: 1);
        DbConnection leaked;
        DbTransaction pending;
        await using (var db = await pool.LeaseAsync())
        {
            // One connection is killed mid-test, another is left open inside a transaction (a leak).
            var killed = await db.OpenConnectionAsync();
            await killed.InsertItemAsync(engine, "committed");
            var id = await killed.SessionIdAsync(engine);
            await using (var admin = await pool.Server.OpenAdminConnectionAsync())
            {
                await admin.ExecuteAsync(engine == DbEngine.PostgreSql ? $"SELECT pg_terminate_backend({id})" : $"KILL {id}");
            }

            await Assert.ThrowsAnyAsync<Exception>(() => killed.ExecuteAsync("SELECT 1"));
            leaked = await db.OpenConnectionAsync();
            pending = await leaked.BeginTransactionAsync();
            await leaked.ExecuteAsync("INSERT INTO notes (tag) VALUES ('uncommitted')", pending);
        }

        // The reset ended the leaked session, so its transaction can never commit into the next test.
        await Assert.ThrowsAnyAsync<Exception>(() => pending.CommitAsync());
        await leaked.DisposeAsync();
        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("items"));
            Assert.Equal(0, await connection.CountAsync("notes"));
        }
    }

    [Theory]
    [MemberData(nameof(TrackedSetups))]
    public async Task A_transaction_begun_just_before_the_reset_is_ended_too(DbEngine engine, bool triggers)
    {
        // MariaDB lists open transactions from a copy refreshed at most every 0.1 s: reading it first makes
        // the reset's read miss the transaction below, which is begun a moment later.
        var transactionsSql = engine == DbEngine.PostgreSql ? "SELECT COUNT(*) FROM pg_stat_activity" : "SELECT COUNT(*) FROM information_schema.INNODB_TRX";
        await using var pool = await CreatePoolAsync(engine, triggers, Schemas.Small(engine), maxDatabases: 1);
        await using var admin = await pool.Server.OpenAdminConnectionAsync();
        for (var test = 0; test < 2; test++)
        {
            DbConnection leaked;
            DbTransaction pending;
            await using (var db = await pool.LeaseAsync())
            {
                leaked = await db.OpenConnectionAsync();
                await admin.ScalarAsync(transactionsSql);
                pending = await leaked.BeginTransactionAsync();
                await leaked.ExecuteAsync("INSERT INTO notes (tag) VALUES ('uncommitted')", pending);
            }

            await Assert.ThrowsAnyAsync<Exception>(() => pending.CommitAsync());
            await leaked.DisposeAsync();
            await using var next = await pool.LeaseAsync();
            await using var connection = await next.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("notes"));
        }
    }

    [Theory]
    [MemberData(nameof(TrackedSetups))]
    public async Task Transaction_mode_rolls_back_and_still_clears_what_was_committed_elsewhere(DbEngine engine, bool triggers)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1, TrackWithTriggers = triggers, Isolation = IsolationMode.Transaction });
        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            await connection.InsertItemAsync(engine, "rolled back");
            Assert.Equal(1, await connection.CountAsync("items"));
            await Assert.ThrowsAnyAsync<InvalidOperationException>(() => connection.BeginTransactionAsync().AsTask());

            // A commit that bypasses the kit's transaction: the reset after the rollback catches it.
            await using var outside = pool.Server.CreateConnection(pool.Server.ConnectionStringFor(db.Name));
            await outside.OpenAsync();
            await outside.ExecuteAsync("INSERT INTO notes (tag) VALUES ('committed')");
        }

        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("items"));
            Assert.Equal(0, await connection.CountAsync("notes"));
        }
    }

    [Theory]
    [MemberData(nameof(TrackedSetups))]
    public async Task Ids_restart_in_transaction_mode_although_the_marks_roll_back(DbEngine engine, bool triggers)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1, TrackWithTriggers = triggers, Isolation = IsolationMode.Transaction });
        for (var test = 0; test < 3; test++)
        {
            await using var db = await pool.LeaseAsync();
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(1, await connection.InsertItemAsync(engine, "rolled back"));
            Assert.Equal(2, await connection.InsertItemAsync(engine, "rolled back"));
        }
    }

    /// <summary>MariaDB's marks are not transactional, so its reset empties the table the rolled-back test wrote
    /// to and puts the seed back; PostgreSQL's marks roll back, and the seed never left.</summary>
    [Theory]
    [MemberData(nameof(TrackedSetups))]
    public async Task Ids_repeat_without_colliding_with_the_schema_s_seed_rows_in_transaction_mode(DbEngine engine, bool triggers)
    {
        var small = Schemas.Small(engine);
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions
        {
            CreateSchema = async c => { await small(c); await c.ExecuteAsync("INSERT INTO items (tag) VALUES ('seed')"); },
            MaxDatabases = 1,
            Isolation = IsolationMode.Transaction,
            TrackWithTriggers = triggers,
        });
        for (var test = 0; test < 3; test++)
        {
            // A sequence put back to its start under a seed row that stays would hand out the seed's id again.
            await using var db = await pool.LeaseAsync();
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(1, await connection.CountAsync("items WHERE tag = 'seed'"));
            Assert.Equal(2, await connection.InsertItemAsync(engine, "rolled back"));
        }
    }

    /// <summary>A role without superuser cannot switch foreign-key triggers off: the reset empties with
    /// TRUNCATE .. CASCADE, and puts seed rows back referenced tables first, whatever order the schema made
    /// them in.</summary>
    [Fact]
    public async Task Without_superuser_seed_rows_come_back_in_foreign_key_order()
    {
        const DbEngine engine = DbEngine.PostgreSql;
        await using var real = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        var password = Guid.NewGuid().ToString("N");
        await using (var admin = await real.OpenAdminConnectionAsync())
        {
            await admin.ExecuteAsync($"CREATE ROLE tdk_plain LOGIN CREATEDB PASSWORD '{password}'");
        }

        await using var plain = await DbServer.StartAsync(engine, new DbServerOptions
        {
            Provider = DbServerProvider.External,
            ConnectionString = real.Dialect.WithUser(real.AdminConnectionString, "tdk_plain", password),
        });
        await using var pool = await DatabasePool.CreateAsync(plain, new DatabasePoolOptions
        {
            // cities is made (and seeded) before the countries it references.
            CreateSchema = c => c.ExecuteAsync("""
                CREATE TABLE cities (id INT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, country TEXT NOT NULL);
                CREATE TABLE countries (code TEXT PRIMARY KEY);
                ALTER TABLE cities ADD FOREIGN KEY (country) REFERENCES countries (code);
                INSERT INTO countries VALUES ('se');
                INSERT INTO cities (country) VALUES ('se');
                """),
            MaxDatabases = 1,
        });
        Assert.True(pool.IsTracking, "tracking was not installed for a role without superuser");
        string? first = null;
        for (var test = 0; test < 3; test++)
        {
            await using var db = await pool.LeaseAsync();
            first ??= db.Name;
            Assert.Equal(first, db.Name); // reset, not replaced after a failed reset
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal("off", await connection.ScalarAsync("SHOW is_superuser"));
            Assert.Equal("1 se", await connection.ScalarAsync("SELECT string_agg(id || ' ' || country, ',') FROM cities"));
            Assert.Equal(1, await connection.CountAsync("countries"));
            await connection.ExecuteAsync("INSERT INTO countries VALUES ('no'); INSERT INTO cities (country) VALUES ('no')");
        }
    }

    /// <summary>Statement triggers fire on the table a statement names: a change through the parent must still
    /// bring back the seeds of its partitions.</summary>
    [Fact]
    public async Task Seed_rows_of_a_partition_come_back_after_a_change_made_through_its_parent()
    {
        const DbEngine engine = DbEngine.PostgreSql;
        await using var pool = await CreatePoolAsync(engine, c => c.ExecuteAsync("""
            CREATE TABLE events (day INT NOT NULL, what TEXT NOT NULL) PARTITION BY RANGE (day);
            CREATE TABLE events_early PARTITION OF events FOR VALUES FROM (0) TO (100);
            CREATE TABLE events_late PARTITION OF events FOR VALUES FROM (100) TO (200);
            INSERT INTO events VALUES (1, 'seed'), (150, 'seed');
            """), maxDatabases: 1);
        foreach (var change in new[] { "UPDATE events SET what = 'changed'", "DELETE FROM events", "INSERT INTO events VALUES (2, 'mine')" })
        {
            await using var db = await pool.LeaseAsync();
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal("1 seed,150 seed", string.Join(",", await connection.ReadColumnAsync("SELECT day || ' ' || what FROM events ORDER BY day", r => r.GetString(0), default)));
            await connection.ExecuteAsync(change);
        }
    }

    [Theory]
    [MemberData(nameof(TrackedSetups))]
    public async Task Seed_rows_come_back_after_tests_that_deleted_changed_or_truncated_them(DbEngine engine, bool triggers)
    {
        var small = Schemas.Small(engine);
        var doubled = engine == DbEngine.PostgreSql
            ? "CREATE TABLE priced (id INT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, qty INT NOT NULL, twice INT GENERATED ALWAYS AS (qty * 2) STORED)"
            : "CREATE TABLE priced (id INT AUTO_INCREMENT PRIMARY KEY, qty INT NOT NULL, twice INT AS (qty * 2) STORED)";
        await using var pool = await CreatePoolAsync(engine, triggers, async c =>
        {
            await small(c);
            await c.ExecuteAsync(doubled);
            await c.ExecuteAsync("INSERT INTO items (tag) VALUES ('seed 1'), ('seed 2'); INSERT INTO notes (tag, body) VALUES ('n', 'seed'); INSERT INTO priced (qty) VALUES (5)");
        }, maxDatabases: 1);

        async Task AssertSeededAsync(DbConnection c)
        {
            Assert.Equal("seed 1,seed 2", string.Join(",", await c.ReadColumnAsync("SELECT tag FROM items ORDER BY id", r => r.GetString(0), default)));
            Assert.Equal("seed", await c.ScalarAsync("SELECT body FROM notes"));
            Assert.Equal("1 5 10", await c.ScalarAsync(engine == DbEngine.PostgreSql
                ? "SELECT concat_ws(' ', id, qty, twice) FROM priced" : "SELECT CONCAT_WS(' ', id, qty, twice) FROM priced"));
        }

        var changes = new[]
        {
            "INSERT INTO items (tag) VALUES ('mine')",
            "DELETE FROM items WHERE tag = 'seed 1'",
            "UPDATE notes SET body = 'changed'",
            engine == DbEngine.PostgreSql ? "TRUNCATE notes" : "TRUNCATE TABLE notes",
            "DELETE FROM priced",
            "UPDATE priced SET qty = 7",
        };
        foreach (var change in changes)
        {
            await using var db = await pool.LeaseAsync();
            await using var connection = await db.OpenConnectionAsync();
            await AssertSeededAsync(connection);
            Assert.Equal(3, await connection.InsertItemAsync(engine, "ids go on after the seeds")); // and restart there
            await connection.ExecuteAsync(change);
        }

        await using var last = await pool.LeaseAsync();
        await using var check = await last.OpenConnectionAsync();
        await AssertSeededAsync(check);
    }

    [Theory]
    [MemberData(nameof(TrackedSetups))]
    public async Task Ids_restart_after_a_test_that_only_rolled_back_its_writes(DbEngine engine, bool triggers)
    {
        await using var pool = await CreatePoolAsync(engine, triggers, Schemas.Small(engine), maxDatabases: 1);
        for (var test = 0; test < 3; test++)
        {
            await using var db = await pool.LeaseAsync();
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("items"));
            await using var transaction = await connection.BeginTransactionAsync();
            await connection.ExecuteAsync("INSERT INTO items (tag) VALUES ('a'); INSERT INTO items (tag) VALUES ('b')", transaction);
            await transaction.RollbackAsync();
            Assert.Equal(3, await connection.InsertItemAsync(engine, "kept")); // the rollback did not give 1 and 2 back
        }
    }

    [Theory]
    [MemberData(nameof(TrackedSetups))]
    public async Task A_write_after_a_rolled_back_write_on_the_same_connection_is_still_reset(DbEngine engine, bool triggers)
    {
        await using var pool = await CreatePoolAsync(engine, triggers, Schemas.Small(engine), maxDatabases: 1);
        await using var db = await pool.LeaseAsync();
        await using var connection = await db.OpenConnectionAsync();
        for (var round = 0; round < 3; round++)
        {
            await using (var rolledBack = await connection.BeginTransactionAsync())
            {
                await connection.ExecuteAsync("INSERT INTO notes (tag) VALUES ('gone')", rolledBack);
                await rolledBack.RollbackAsync();
            }

            await using (var partly = await connection.BeginTransactionAsync())
            {
                await connection.ExecuteAsync("SAVEPOINT s", partly);
                await connection.ExecuteAsync("INSERT INTO items (tag) VALUES ('gone')", partly);
                await connection.ExecuteAsync("ROLLBACK TO SAVEPOINT s", partly);
                await partly.CommitAsync();
            }

            // The same connection, which survives each reset, writes for real now.
            await connection.ExecuteAsync("INSERT INTO notes (tag) VALUES ('kept')");
            await connection.InsertItemAsync(engine, "kept");
            await db.ResetAsync();
            Assert.Equal(0, await connection.CountAsync("notes"));
            Assert.Equal(0, await connection.CountAsync("items"));
        }
    }

    [Theory]
    [MemberData(nameof(TrackedSetups))]
    public async Task A_crash_that_emptied_the_dirty_set_makes_the_reset_clear_every_table(DbEngine engine, bool triggers)
    {
        await using var pool = await CreatePoolAsync(engine, triggers, Schemas.Small(engine), maxDatabases: 1);
        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            await connection.InsertItemAsync(engine, "x");
            await connection.ExecuteAsync("INSERT INTO notes (tag) VALUES ('k')");
            // What a server crash does to the set: PostgreSQL truncates unlogged tables, MEMORY tables come back empty.
            await connection.ExecuteAsync(engine == DbEngine.PostgreSql ? "TRUNCATE testdbkit.dirty" : "DELETE FROM testdbkit_dirty");
        }

        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("items"));
            Assert.Equal(0, await connection.CountAsync("notes"));
            Assert.Equal(1, await connection.InsertItemAsync(engine, "again"));
        }
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Clone_mode_gives_each_test_a_fresh_database_so_schema_changes_do_not_leak(DbEngine engine)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 2, Isolation = IsolationMode.Clone });
        string first;
        await using (var db = await pool.LeaseAsync())
        {
            first = db.Name;
            await using var connection = await db.OpenConnectionAsync();
            await connection.ExecuteAsync("ALTER TABLE items ADD COLUMN extra INT");
            await connection.ExecuteAsync("CREATE TABLE scratch (id INT)");
            await connection.InsertItemAsync(engine, "x");
        }

        await using (var db = await pool.LeaseAsync())
        {
            Assert.NotEqual(first, db.Name);
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("items"));
            await Assert.ThrowsAnyAsync<DbException>(() => connection.ScalarAsync("SELECT extra FROM items"));
            await Assert.ThrowsAnyAsync<DbException>(() => connection.ScalarAsync("SELECT COUNT(*) FROM scratch"));
        }
    }

    [Theory]
    [MemberData(nameof(TrackedSetups))]
    public async Task Tables_in_a_foreign_key_cycle_and_views_are_reset(DbEngine engine, bool triggers)
    {
        await using var pool = await CreatePoolAsync(engine, triggers, Schemas.Cycle(engine), maxDatabases: 1);
        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            await connection.ExecuteAsync("INSERT INTO a (id, b_id) VALUES (1, NULL)");
            await connection.ExecuteAsync("INSERT INTO b (id, a_id) VALUES (1, 1)");
            await connection.ExecuteAsync("UPDATE a SET b_id = 1 WHERE id = 1");
            Assert.Equal(1, await connection.CountAsync("ab"));
        }

        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("a"));
            Assert.Equal(0, await connection.CountAsync("b"));
            Assert.Equal(0, await connection.CountAsync("ab"));
        }
    }

    [Theory]
    [MemberData(nameof(TrackedSetups))]
    public async Task A_delete_trigger_of_the_schema_leaves_no_rows_behind_after_a_reset(DbEngine engine, bool triggers)
    {
        var audit = engine == DbEngine.PostgreSql
            ? """
              CREATE FUNCTION audit_delete() RETURNS trigger LANGUAGE plpgsql AS $f$
              BEGIN INSERT INTO notes (tag) VALUES ('deleted ' || OLD.id); RETURN OLD; END $f$;
              CREATE TRIGGER items_audit AFTER DELETE ON items FOR EACH ROW EXECUTE FUNCTION audit_delete();
              """
            : "CREATE TRIGGER items_audit AFTER DELETE ON items FOR EACH ROW INSERT INTO notes (tag) VALUES (CONCAT('deleted ', OLD.id))";
        var small = Schemas.Small(engine);
        await using var pool = await CreatePoolAsync(engine, triggers, async c => { await small(c); await c.ExecuteAsync(audit); }, maxDatabases: 1);
        await using var db = await pool.LeaseAsync();
        await using var connection = await db.OpenConnectionAsync();
        for (var round = 0; round < 2; round++)
        {
            await connection.InsertItemAsync(engine, "x");
            await connection.InsertItemAsync(engine, "y");
            await db.ResetAsync();
            Assert.Equal(0, await connection.CountAsync("items"));
            Assert.Equal(0, await connection.CountAsync("notes"));
        }

        // The trigger still works for the test's own deletes, and foreign keys are still checked.
        await connection.InsertItemAsync(engine, "z");
        await connection.ExecuteAsync("DELETE FROM items");
        Assert.Equal(1, await connection.CountAsync("notes"));
    }

    [Fact]
    public async Task A_table_the_test_dropped_does_not_stop_the_reset_of_the_others()
    {
        const DbEngine engine = DbEngine.PostgreSql;
        await using var pool = await CreatePoolAsync(engine, Schemas.Chain(engine, 3), maxDatabases: 1);
        string name;
        await using (var db = await pool.LeaseAsync())
        {
            name = db.Name;
            await using var c = await db.OpenConnectionAsync();
            await c.ExecuteAsync("INSERT INTO t0 (v) VALUES (1); INSERT INTO t2 (v) VALUES (1); DROP TABLE t2");
            await using var rolledBack = await c.BeginTransactionAsync(); // lost marks: every moved sequence is checked
            await c.ExecuteAsync("INSERT INTO t1 (v) VALUES (1)", rolledBack);
        }

        await using var next = await pool.LeaseAsync();
        Assert.Equal(name, next.Name); // reset, not replaced
        await using var connection = await next.OpenConnectionAsync();
        Assert.Equal(0, await connection.CountAsync("t0"));
        Assert.Equal(1, Convert.ToInt32(await connection.ScalarAsync("INSERT INTO t1 (v) VALUES (1) RETURNING id")));
    }

    [Fact]
    public async Task The_reset_leaves_foreign_key_checks_on_for_the_test()
    {
        const DbEngine engine = DbEngine.PostgreSql;
        await using var pool = await CreatePoolAsync(engine, Schemas.Chain(engine, 2), maxDatabases: 1);
        await using var db = await pool.LeaseAsync();
        await using var connection = await db.OpenConnectionAsync();
        await connection.ExecuteAsync("INSERT INTO t0 (v) VALUES (1)");
        await db.ResetAsync(); // the kit's own session turns foreign-key triggers off for itself only
        await using var fresh = await db.OpenConnectionAsync();
        foreach (var c in new[] { connection, fresh })
        {
            Assert.Equal("origin", await c.ScalarAsync("SHOW session_replication_role"));
            await Assert.ThrowsAnyAsync<DbException>(() => c.ExecuteAsync("INSERT INTO t1 (v, parent_id) VALUES (1, 42)"));
        }
    }

    [Theory]
    [MemberData(nameof(TrackedSetups))]
    public async Task A_schema_of_200_tables_is_reset_where_it_was_written(DbEngine engine, bool triggers)
    {
        await using var pool = await CreatePoolAsync(engine, triggers, Schemas.Chain(engine, 200), maxDatabases: 1);
        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            await connection.ExecuteAsync("INSERT INTO t0 (v) VALUES (1)");
            await connection.ExecuteAsync("INSERT INTO t1 (v, parent_id) VALUES (1, 1)");
            await connection.ExecuteAsync("INSERT INTO t199 (v) VALUES (1)");
        }

        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            foreach (var table in new[] { "t0", "t1", "t199" })
            {
                Assert.Equal(0, await connection.CountAsync(table));
            }
        }
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Respawn_is_the_fallback_and_resets_as_well(DbEngine engine)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { CreateSchema = Schemas.Cycle(engine), MaxDatabases = 1, UseRespawn = true });
        Assert.False(pool.IsTracking);
        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            await connection.ExecuteAsync("INSERT INTO a (id) VALUES (1)");
            await connection.ExecuteAsync("INSERT INTO b (id, a_id) VALUES (1, 1)");
        }

        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("a") + await connection.CountAsync("b"));
        }
    }

    [Theory]
    [MemberData(nameof(TrackedSetups))]
    public async Task A_database_whose_reset_fails_is_replaced_never_leased_dirty(DbEngine engine, bool triggers)
    {
        await using var pool = await CreatePoolAsync(engine, triggers, Schemas.Small(engine), maxDatabases: 1);
        string broken;
        await using (var db = await pool.LeaseAsync())
        {
            broken = db.Name;
            await using var connection = await db.OpenConnectionAsync();
            await connection.InsertItemAsync(engine, "dirty");
            // Break the reset routine, as a test that drops the kit's objects would.
            await connection.ExecuteAsync(engine == DbEngine.PostgreSql ? "DROP FUNCTION testdbkit.reset(boolean)" : "DROP PROCEDURE testdbkit_reset");
        }

        await using (var db = await pool.LeaseAsync())
        {
            Assert.NotEqual(broken, db.Name);
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("items"));
        }

        await using var admin = await pool.Server.OpenAdminConnectionAsync();
        await TestSupport.EventuallyAsync(() => !DatabaseExists(admin, engine, broken), TimeSpan.FromSeconds(20), $"{broken} is dropped");
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_failing_schema_is_a_clear_error_and_leaves_no_database(DbEngine engine)
    {
        var server = await DbServer.SharedAsync(engine);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => DatabasePool.CreateAsync(server,
            new DatabasePoolOptions { CreateSchema = c => c.ExecuteAsync("CREATE TABLE broken (") }));
        Assert.Contains("CreateSchema failed on database tdk_", e.Message, StringComparison.Ordinal);
        var name = e.Message.Split(' ')[4];
        await using var admin = await server.OpenAdminConnectionAsync();
        Assert.False(DatabaseExists(admin, engine, name));
    }

    [Fact]
    public async Task Bad_options_are_refused()
    {
        var server = await DbServer.SharedAsync(DbEngine.PostgreSql);
        await Assert.ThrowsAsync<ArgumentNullException>(() => DatabasePool.CreateAsync(null!, new DatabasePoolOptions()));
        await Assert.ThrowsAsync<ArgumentNullException>(() => DatabasePool.CreateAsync(server, null!));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => DatabasePool.CreateAsync(server, new DatabasePoolOptions { MaxDatabases = 0 }));
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Disposing_the_pool_drops_its_databases(DbEngine engine)
    {
        var pool = await CreatePoolAsync(engine, Schemas.Small(engine), maxDatabases: 2);
        string name;
        await using (var db = await pool.LeaseAsync())
        {
            name = db.Name;
        }

        await pool.DisposeAsync();
        await using var admin = await pool.Server.OpenAdminConnectionAsync();
        Assert.False(DatabaseExists(admin, engine, name));
    }

    [Theory]
    [MemberData(nameof(TrackedSetups))]
    public async Task Tracking_never_makes_one_transaction_wait_for_another(DbEngine engine, bool triggers)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1, TrackWithTriggers = triggers, Isolation = IsolationMode.Transaction });
        await using var db = await pool.LeaseAsync();
        await using var a = await db.OpenConnectionAsync();
        await using var b = await db.OpenConnectionAsync();
        await a.ExecuteAsync("INSERT INTO items (tag) VALUES ('a')"); // a's transaction stays open
        await using var command = b.CreateCommand();
        command.CommandText = "INSERT INTO items (tag) VALUES ('b')";
        command.CommandTimeout = 5;
        await command.ExecuteNonQueryAsync(); // would wait for a's transaction if the marks had a unique key
    }

    [Fact]
    public async Task Rows_loaded_with_triggers_disabled_are_tracked_too()
    {
        await using var pool = await CreatePoolAsync(DbEngine.PostgreSql, Schemas.Small(DbEngine.PostgreSql), maxDatabases: 1);
        await using (var db = await pool.LeaseAsync())
        {
            await using var c = await db.OpenConnectionAsync();
            await c.ExecuteAsync("SET session_replication_role = replica"); // how fixture loaders skip triggers
            await c.ExecuteAsync("INSERT INTO notes (tag) VALUES ('loaded')");
        }

        await using var next = await pool.LeaseAsync();
        await using var connection = await next.OpenConnectionAsync();
        Assert.Equal(0, await connection.CountAsync("notes"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task MySQL_tables_whose_names_differ_only_in_case_are_both_reset(bool triggers)
    {
        var schema = (DbConnection c) => c.ExecuteAsync("CREATE TABLE Users (id INT PRIMARY KEY); CREATE TABLE users (id INT PRIMARY KEY)");
        await using var pool = await CreatePoolAsync(DbEngine.MySql, triggers, schema, maxDatabases: 1);
        await using (var db = await pool.LeaseAsync())
        {
            await using var c = await db.OpenConnectionAsync();
            await c.ExecuteAsync("INSERT INTO Users VALUES (1); INSERT INTO users VALUES (1)");
        }

        await using var next = await pool.LeaseAsync();
        await using var connection = await next.OpenConnectionAsync();
        Assert.Equal(0, await connection.CountAsync("Users") + await connection.CountAsync("users"));
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Disposing_the_pool_drops_leased_databases_too(DbEngine engine)
    {
        var pool = await CreatePoolAsync(engine, Schemas.Small(engine), maxDatabases: 2);
        var db = await pool.LeaseAsync();
        await pool.DisposeAsync();
        await db.DisposeAsync(); // a late return must not fail
        await using var admin = await pool.Server.OpenAdminConnectionAsync();
        Assert.False(DatabaseExists(admin, engine, db.Name));
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_clone_returned_with_a_lock_still_held_is_dropped_without_waiting(DbEngine engine)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1, Isolation = IsolationMode.Clone });
        string name;
        await using (var db = await pool.LeaseAsync())
        {
            name = db.Name;
            _ = await db.Faults.HoldLockAsync("items"); // never disposed by the test
        }

        await using var next = await pool.LeaseAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        Assert.NotEqual(name, next.Name);
    }

    /// <summary>The tracking variants: PostgreSQL's statement triggers, MariaDB's row counters (what the kit's own
    /// servers use), and MariaDB's row triggers (MySQL, or MariaDB without <c>userstat</c>).</summary>
    public static TheoryData<DbEngine, bool> TrackedSetups => new() { { DbEngine.PostgreSql, false }, { DbEngine.MySql, false }, { DbEngine.MySql, true } };

    private static Task<DatabasePool> CreatePoolAsync(DbEngine engine, Func<DbConnection, Task> schema, int maxDatabases) =>
        CreatePoolAsync(engine, triggers: false, schema, maxDatabases);

    private static async Task<DatabasePool> CreatePoolAsync(DbEngine engine, bool triggers, Func<DbConnection, Task> schema, int maxDatabases)
    {
        var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { CreateSchema = schema, MaxDatabases = maxDatabases, TrackWithTriggers = triggers });
        // The shared MariaDB server counts rows (userstat), so its pools track without triggers unless told to.
        Assert.Equal(engine == DbEngine.MySql && !triggers ? ChangeMarks.RowCounters : ChangeMarks.Triggers, pool.Marks);
        return pool;
    }

    internal static bool DatabaseExists(DbConnection admin, DbEngine engine, string name)
    {
        using var command = admin.CreateCommand();
        command.CommandText = engine == DbEngine.PostgreSql
            ? $"SELECT COUNT(*) FROM pg_database WHERE datname = '{name}'"
            : $"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{name}'";
        return Convert.ToInt64(command.ExecuteScalar()) > 0;
    }
}
