using Microsoft.EntityFrameworkCore;
using TestDbKit.Tests.Common;
using static TestDbKit.EntityFrameworkCore.Tests.EnsureSupport;

namespace TestDbKit.EntityFrameworkCore.Tests;

/// <summary>Objects a test creates itself (a table with rows, an index, an enum type, a function, a view, a schema)
/// are gone before the next test, and so are their rows; the schema's own seed row stays. The schema is EF's model,
/// built by EnsureCreated in the schema hook; a pool of one database, so the next lease is the same database.</summary>
public abstract class ObjectsTests(DbEngine engine)
{
    [Fact]
    public async Task Objects_a_test_created_are_gone_for_the_next_test()
    {
        var log = new RecordingLogs();
        await using var pool = await PoolAsync(engine, log, c => EnsureCreatedInHookAsync(engine, c));
        List<string> tables, indexes;
        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            tables = await ObjectsAsync(connection, engine, "tables");
            indexes = await ObjectsAsync(connection, engine, "indexes");
            Assert.Equal(["pets"], tables);
            await connection.ExecuteAsync(engine == DbEngine.PostgreSql
                ? """
                  CREATE TABLE notes (id int PRIMARY KEY, body text);
                  INSERT INTO notes VALUES (1, 'left behind');
                  CREATE INDEX pets_mood ON pets (mood);
                  CREATE TYPE colour AS ENUM ('red', 'green');
                  CREATE FUNCTION twice(x int) RETURNS int LANGUAGE sql AS 'SELECT 2 * x';
                  CREATE VIEW note_view AS SELECT body FROM notes;
                  CREATE SCHEMA scratch;
                  CREATE TABLE scratch.more (id int);
                  INSERT INTO scratch.more VALUES (1);
                  """
                : """
                  CREATE TABLE notes (id int PRIMARY KEY, body text);
                  INSERT INTO notes VALUES (1, 'left behind');
                  CREATE INDEX pets_mood ON pets (mood);
                  CREATE FUNCTION twice(x int) RETURNS int DETERMINISTIC RETURN 2 * x;
                  CREATE VIEW note_view AS SELECT body FROM notes;
                  CREATE TRIGGER pets_touch BEFORE UPDATE ON pets FOR EACH ROW SET NEW.name = NEW.name;
                  """);
            await using var context = IntMoodContext(engine, db.ConnectionString);
            context.Pets.Add(new Pet { Name = "Rex", Mood = Mood.Grumpy });
            await context.SaveChangesAsync();

            // The premise: the objects are there, with their rows.
            Assert.Equal(["note_view", "notes", "pets"], await ObjectsAsync(connection, engine, "tables"));
            Assert.Contains("pets_mood", await ObjectsAsync(connection, engine, "indexes"));
            Assert.Equal(["twice"], await ObjectsAsync(connection, engine, "functions"));
            Assert.Equal(1L, Convert.ToInt64(await connection.ScalarAsync("SELECT count(*) FROM notes")));
            if (engine == DbEngine.PostgreSql)
            {
                Assert.Equal(["colour"], await ObjectsAsync(connection, engine, "types"));
                Assert.Equal(["scratch"], await ObjectsAsync(connection, engine, "schemas"));
            }
            else
            {
                Assert.Equal(["pets_touch"], await ObjectsAsync(connection, engine, "triggers"));
            }
        }

        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(tables, await ObjectsAsync(connection, engine, "tables"));
            Assert.Equal(indexes, await ObjectsAsync(connection, engine, "indexes"));
            Assert.Empty(await ObjectsAsync(connection, engine, "functions"));
            if (engine == DbEngine.PostgreSql)
            {
                Assert.Empty(await ObjectsAsync(connection, engine, "types"));
                Assert.Empty(await ObjectsAsync(connection, engine, "schemas"));
            }
            else
            {
                Assert.Empty(await ObjectsAsync(connection, engine, "triggers"));
            }

            await using var context = IntMoodContext(engine, db.ConnectionString);
            Assert.Equal(["Seed"], await NamesAsync(context));

            // The next test can make the same objects again: nothing of the first is in the way.
            await connection.ExecuteAsync("CREATE TABLE notes (id int PRIMARY KEY, body text)");
            Assert.Equal(0L, Convert.ToInt64(await connection.ScalarAsync("SELECT count(*) FROM notes")));
        }

        Assert.Empty(log.Warnings);
    }

    /// <summary>A test that only writes rows, the usual case, keeps its database: the reset empties it in place.</summary>
    [Fact]
    public async Task A_test_that_only_writes_rows_keeps_its_database()
    {
        var log = new RecordingLogs();
        await using var pool = await PoolAsync(engine, log, c => EnsureCreatedInHookAsync(engine, c));
        string first;
        await using (var db = await pool.LeaseAsync())
        {
            await using var context = IntMoodContext(engine, db.ConnectionString);
            context.Pets.Add(new Pet { Name = "Rex", Mood = Mood.Grumpy });
            await context.SaveChangesAsync();
            first = db.Name;
        }

        await using (var db = await pool.LeaseAsync())
        {
            Assert.Equal(first, db.Name);
            await using var context = IntMoodContext(engine, db.ConnectionString);
            Assert.Equal(["Seed"], await NamesAsync(context));
        }

        Assert.Empty(log.Warnings);
    }

    /// <summary>A temporary table is the test's session's own and ends with it: it does not cost the database.</summary>
    [Fact]
    public async Task A_temporary_table_does_not_cost_the_database()
    {
        var log = new RecordingLogs();
        await using var pool = await PoolAsync(engine, log, c => EnsureCreatedInHookAsync(engine, c));
        string first;
        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            await connection.ExecuteAsync("CREATE TEMPORARY TABLE scratch (id int); INSERT INTO scratch VALUES (1)");
            Assert.Equal(1L, Convert.ToInt64(await connection.ScalarAsync("SELECT count(*) FROM scratch")));
            first = db.Name;
        }

        await using (var db = await pool.LeaseAsync())
        {
            Assert.Equal(first, db.Name);
        }

        Assert.Empty(log.Warnings);
    }
}

public sealed class PostgreSqlObjectsTests() : ObjectsTests(DbEngine.PostgreSql);

public sealed class MySqlObjectsTests() : ObjectsTests(DbEngine.MySql);
