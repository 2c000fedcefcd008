using System.Data.Common;
using Microsoft.Extensions.Logging;
using TestDbKit.Engines;
using static TestDbKit.Tests.Databases.PoolSetup;

namespace TestDbKit.Tests.Databases;

/// <summary>
/// Schema changes a test makes itself (objects created, dropped or altered; the database dropped or made again) are
/// undone before the next test: the pool replaces the database with a fresh copy, quietly. Row writes and temporary
/// objects keep the database. A schema without tables leaves nothing of the kit's in the database.
/// Pools of one database: the next lease is the database the test before used, unless it was replaced.
/// </summary>
public sealed class SchemaChangeTests
{
    /// <summary>Each change, per engine; the tracking variants of <see cref="PoolSetup.TrackedSetups"/>.</summary>
    public static TheoryData<DbEngine, bool, string> Changes
    {
        get
        {
            var data = new TheoryData<DbEngine, bool, string>();
            string[] common =
            [
                "CREATE TABLE extra (id INT PRIMARY KEY); INSERT INTO extra VALUES (1)",
                "CREATE INDEX items_tag ON items (tag)",
                "ALTER TABLE items ADD COLUMN more INT",
                "DROP VIEW item_tags",
                "CREATE VIEW more_tags AS SELECT tag FROM notes",
                "DROP TABLE notes",
            ];
            foreach (var sql in common.Concat([
                "CREATE TYPE colour AS ENUM ('red')",
                "CREATE FUNCTION twice(x int) RETURNS int LANGUAGE sql AS 'SELECT 2 * x'",
                "CREATE SCHEMA scratch",
                "ALTER TABLE notes ALTER COLUMN body TYPE text",
                // A fixture loader's replica role silences ordinary triggers; the kit's event triggers fire ALWAYS.
                "SET session_replication_role = replica; CREATE TABLE loaded (id INT); RESET session_replication_role",
            ]))
            {
                data.Add(DbEngine.PostgreSql, false, sql);
            }

            foreach (var triggers in new[] { false, true })
            {
                foreach (var sql in common.Concat([
                    "CREATE FUNCTION twice(x int) RETURNS int DETERMINISTIC RETURN 2 * x",
                    "CREATE TRIGGER items_touch BEFORE UPDATE ON items FOR EACH ROW SET NEW.tag = NEW.tag",
                    "ALTER TABLE items MODIFY tag VARCHAR(60) NOT NULL",
                    // Changes that add no index and no column: a CHECK constraint, a view redefined, a collation.
                    "ALTER TABLE items ADD CONSTRAINT tag_given CHECK (tag <> '')",
                    "CREATE OR REPLACE VIEW item_tags AS SELECT tag, COUNT(*) AS n FROM items WHERE tag <> '' GROUP BY tag",
                    "ALTER TABLE notes MODIFY body VARCHAR(200) COLLATE utf8mb4_bin",
                ]))
                {
                    data.Add(DbEngine.MySql, triggers, sql);
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Changes))]
    public async Task A_schema_change_gets_the_next_test_a_fresh_copy(DbEngine engine, bool triggers, string change)
    {
        var log = new Warnings();
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1, TrackWithTriggers = triggers, LoggerFactory = log });
        Assert.False(pool.EmptySchema);
        await ChangeAndCheckAsync(pool, engine, change);
        Assert.Empty(log.Messages);
    }

    /// <summary>Rows written, and temporary tables (the session's own), are no schema change: the database stays.</summary>
    [Theory]
    [MemberData(nameof(PoolSetup.TrackedSetups), MemberType = typeof(PoolSetup))]
    public async Task Row_writes_and_temporary_tables_keep_the_database(DbEngine engine, bool triggers)
    {
        await using var pool = await CreatePoolAsync(engine, triggers, Schemas.Small(engine), maxDatabases: 1);
        string first;
        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            await connection.InsertItemAsync(engine, "written");
            await connection.ExecuteAsync("CREATE TEMPORARY TABLE scratch (id INT); INSERT INTO scratch VALUES (1)");
            Assert.Equal(1, await connection.CountAsync("scratch"));
            first = db.Name;
        }

        await using (var db = await pool.LeaseAsync())
        {
            Assert.Equal(first, db.Name);
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("items"));
        }
    }

    /// <summary>No tables in the schema: nothing of the kit's in the database (an ORM that asks whether it has tables
    /// hears no), and a test that creates objects in it gets the next test a fresh, empty copy.</summary>
    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task A_schema_without_tables_gets_no_tracking_and_stays_empty(DbEngine engine)
    {
        var log = new Warnings();
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { MaxDatabases = 1, LoggerFactory = log });
        Assert.True(pool.EmptySchema);
        string first;
        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(0, await AllObjectsAsync(connection, engine));
            await connection.ExecuteAsync("CREATE TABLE pets (id INT PRIMARY KEY); INSERT INTO pets VALUES (1)");
            Assert.NotEqual(0, await AllObjectsAsync(connection, engine));
            first = db.Name;
        }

        string second;
        await using (var db = await pool.LeaseAsync())
        {
            Assert.NotEqual(first, db.Name);
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(0, await AllObjectsAsync(connection, engine));
            second = db.Name;
        }

        // A test that changed nothing keeps the database.
        await using (var db = await pool.LeaseAsync())
        {
            Assert.Equal(second, db.Name);
        }

        Assert.Empty(log.Messages);
    }

    /// <summary>The test drops the database and makes one of the same name (what EF's EnsureDeleted and
    /// EnsureCreated do): the kit's pooled control session on it was ended too; the next test gets a fresh copy
    /// with the schema, and the pool said nothing above debug.</summary>
    [Theory]
    [MemberData(nameof(PoolSetup.TrackedSetups), MemberType = typeof(PoolSetup))]
    public async Task A_database_the_test_dropped_and_made_again_is_replaced(DbEngine engine, bool triggers)
    {
        var log = new Warnings();
        var server = await DbServer.SharedAsync(engine);
        await using var pool = await DatabasePool.CreateAsync(server,
            new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1, TrackWithTriggers = triggers, LoggerFactory = log });
        string first;
        await using (var db = await pool.LeaseAsync())
        {
            first = db.Name;
            await using var admin = await server.OpenAdminConnectionAsync();
            await admin.ExecuteAsync(server.Dialect.DropDatabaseSql(first));
            await admin.ExecuteAsync(server.Dialect.CreateDatabaseSql(first, template: null));
            Assert.True(DatabaseExists(admin, engine, first));
        }

        await using (var db = await pool.LeaseAsync())
        {
            Assert.NotEqual(first, db.Name);
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("items"));
        }

        await using (var admin = await server.OpenAdminConnectionAsync())
        {
            Assert.False(DatabaseExists(admin, engine, first));
        }

        Assert.Empty(log.Messages);
    }

    /// <summary>A reset in the middle of a test cannot undo a schema change: it says so, and the lease's return still
    /// replaces the database.</summary>
    [Theory]
    [InlineData(DbEngine.PostgreSql)]
    [InlineData(DbEngine.MySql)]
    public async Task A_reset_in_the_middle_of_a_test_after_a_schema_change_says_why_it_cannot(DbEngine engine)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 });
        string first;
        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            await connection.ExecuteAsync("CREATE TABLE extra (id INT)");
            var error = await Assert.ThrowsAnyAsync<InvalidOperationException>(() => db.ResetAsync());
            Assert.Contains("cannot be reset in place", error.Message, StringComparison.Ordinal);
            first = db.Name;
        }

        await using (var db = await pool.LeaseAsync())
        {
            Assert.NotEqual(first, db.Name);
        }
    }

    /// <summary>Without a superuser PostgreSQL has no event triggers: the pool compares a fingerprint of the catalogs
    /// instead, which catches the same changes.</summary>
    [Fact]
    public async Task Without_superuser_PostgreSQL_compares_a_catalog_fingerprint()
    {
        const DbEngine engine = DbEngine.PostgreSql;
        await using var servers = await PlainPostgreSql.StartAsync();
        var plain = servers.Plain;
        await using var pool = await DatabasePool.CreateAsync(plain, new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 });
        Assert.True(pool.IsTracking);
        string first;
        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(0L, Convert.ToInt64(await connection.ScalarAsync("SELECT count(*) FROM pg_event_trigger")));
            await connection.InsertItemAsync(engine, "written");
            await connection.ExecuteAsync("CREATE TEMPORARY TABLE scratch (id INT PRIMARY KEY)");
            first = db.Name;
        }

        await using (var db = await pool.LeaseAsync())
        {
            Assert.Equal(first, db.Name); // rows and a temporary table: reset in place
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("items"));
        }

        // (Only a superuser may take the replica role: that change is the event triggers' case.)
        foreach (var change in Changes.Where(row => (DbEngine)row[0] == engine).Select(row => (string)row[2]).Where(c => !c.Contains("session_replication_role", StringComparison.Ordinal)))
        {
            await ChangeAndCheckAsync(pool, engine, change);
        }
    }

    /// <summary>A test writes a row and makes <paramref name="change"/>; the next lease is a fresh copy with the schema
    /// as it was and no rows.</summary>
    private static async Task ChangeAndCheckAsync(DatabasePool pool, DbEngine engine, string change)
    {
        string first, before;
        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            before = await ObjectsAsync(connection, engine);
            await connection.InsertItemAsync(engine, "written");
            await connection.ExecuteAsync(change);
            Assert.NotEqual(before, await ObjectsAsync(connection, engine)); // the premise: the schema changed
            first = db.Name;
        }

        await using (var db = await pool.LeaseAsync())
        {
            Assert.True(first != db.Name, $"{change}: the database was kept");
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(before, await ObjectsAsync(connection, engine));
            Assert.Equal(0, await connection.CountAsync("items"));
        }
    }

    /// <summary>The user's objects, by kind and name, the kit's own left out.</summary>
    private static async Task<string> ObjectsAsync(DbConnection connection, DbEngine engine) =>
        Convert.ToString(await connection.ScalarAsync(engine == DbEngine.PostgreSql
            ? """
              SELECT string_agg(x, ' ' ORDER BY x) FROM (
                SELECT c.relkind::text || ':' || c.relname || '(' || (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ',' ORDER BY a.attnum)
                  FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) || ')'
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'testdbkit', 'pg_toast')
                UNION ALL SELECT 'type:' || typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public' AND t.typtype = 'e'
                UNION ALL SELECT 'proc:' || proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'
                UNION ALL SELECT 'schema:' || nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\_%' AND nspname NOT IN ('public', 'information_schema', 'testdbkit')) o(x)
              """
            : """
              SELECT GROUP_CONCAT(x ORDER BY x SEPARATOR ' ') FROM (
                SELECT CONCAT(TABLE_TYPE, ':', TABLE_NAME) AS x FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME NOT LIKE 'testdbkit\_%'
                UNION ALL SELECT CONCAT('col:', TABLE_NAME, '.', COLUMN_NAME, ' ', COLUMN_TYPE, ' ', COALESCE(COLLATION_NAME, '')) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME NOT LIKE 'testdbkit\_%'
                UNION ALL SELECT CONCAT('constraint:', TABLE_NAME, '.', CONSTRAINT_NAME) FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME NOT LIKE 'testdbkit\_%'
                UNION ALL SELECT CONCAT('view:', TABLE_NAME, ' ', MD5(REPLACE(VIEW_DEFINITION, CONCAT('`', DATABASE(), '`.'), ''))) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()
                UNION ALL SELECT CONCAT('index:', TABLE_NAME, '.', INDEX_NAME) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME NOT LIKE 'testdbkit\_%'
                UNION ALL SELECT CONCAT('routine:', ROUTINE_NAME) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() AND ROUTINE_NAME NOT LIKE 'testdbkit\_%'
                UNION ALL SELECT CONCAT('trigger:', TRIGGER_NAME) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME NOT LIKE 'testdbkit\_%') o
              """), System.Globalization.CultureInfo.InvariantCulture) ?? "";

    /// <summary>Every object in the database that an ORM or a person would count, the kit's own included.</summary>
    private static async Task<long> AllObjectsAsync(DbConnection connection, DbEngine engine) =>
        Convert.ToInt64(await connection.ScalarAsync(engine == DbEngine.PostgreSql
            ? "SELECT (SELECT count(*) FROM pg_class WHERE oid >= 16384) + (SELECT count(*) FROM pg_namespace WHERE nspname = 'testdbkit') + (SELECT count(*) FROM pg_proc WHERE oid >= 16384)"
            : "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()) + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE())"),
            System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Keeps what the pool logs at Warning and above (a replacement for a schema change logs at Debug).</summary>
    private sealed class Warnings : ILoggerFactory, ILoggerProvider, ILogger
    {
        public System.Collections.Concurrent.ConcurrentQueue<string> Messages { get; } = new();

        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                Messages.Enqueue(formatter(state, exception));
            }
        }
    }
}
