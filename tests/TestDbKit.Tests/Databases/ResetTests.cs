using System.Data.Common;
using TestDbKit.Engines;
using static TestDbKit.Tests.Databases.PoolSetup;

namespace TestDbKit.Tests.Databases;

/// <summary>What a reset empties and puts back: rows written on any connection, in any way, whatever the schema.</summary>
public sealed class ResetTests
{
    [Theory]
    [MemberData(nameof(PoolSetup.TrackedSetups), MemberType = typeof(PoolSetup))]
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
    [MemberData(nameof(PoolSetup.TrackedSetups), MemberType = typeof(PoolSetup))]
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
    [MemberData(nameof(PoolSetup.TrackedSetups), MemberType = typeof(PoolSetup))]
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
    [MemberData(nameof(PoolSetup.TrackedSetups), MemberType = typeof(PoolSetup))]
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
    [MemberData(nameof(PoolSetup.TrackedSetups), MemberType = typeof(PoolSetup))]
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
    [MemberData(nameof(PoolSetup.TrackedSetups), MemberType = typeof(PoolSetup))]
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
        Assert.NotEqual(name, next.Name); // a dropped table is a schema change: a fresh copy (SchemaChangeTests)
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
            var refused = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => c.ExecuteAsync("INSERT INTO t1 (v, parent_id) VALUES (1, 42)"));
            Assert.Equal("23503", refused.SqlState); // foreign_key_violation
            Assert.True((DbErrors.Classify(refused) & ErrorKind.IntegrityViolation) != 0, refused.ToString());
        }
    }

    [Theory]
    [MemberData(nameof(PoolSetup.TrackedSetups), MemberType = typeof(PoolSetup))]
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
}
