using System.Data.Common;
using Microsoft.Extensions.Logging;
using TestDbKit.Engines;
using static TestDbKit.Tests.Databases.PoolSetup;

namespace TestDbKit.Tests.Databases;

/// <summary>Respawn resets where the kit's change tracking cannot be installed.</summary>
public sealed class RespawnFallbackTests
{
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

    /// <summary>Where it really happens on MariaDB: an account that may create databases, tables and routines but
    /// not triggers, on a server that does not count rows (<c>userstat</c> off, as on most servers the kit did not
    /// start). The row triggers cannot be installed, so the pool falls back to Respawn by itself, says so in its
    /// log, and its resets still empty what each test wrote, ended sessions it left in a transaction included.</summary>
    [Fact]
    public async Task An_account_without_the_TRIGGER_privilege_falls_back_to_Respawn_by_itself()
    {
        const DbEngine engine = DbEngine.MySql;
        await using var real = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        var password = Guid.NewGuid().ToString("N");
        await using (var admin = await real.OpenAdminConnectionAsync())
        {
            await admin.ExecuteAsync("SET GLOBAL userstat = 0");
            await admin.ExecuteAsync($"CREATE USER 'tdk_plain'@'%' IDENTIFIED BY '{password}'");
            await admin.ExecuteAsync("""
                GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, REFERENCES, CREATE TEMPORARY TABLES,
                      LOCK TABLES, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, EXECUTE
                ON `tdk\_%`.* TO 'tdk_plain'@'%'
                """);
        }

        await using var plain = await DbServer.StartAsync(engine, new DbServerOptions
        {
            Provider = DbServerProvider.External,
            ConnectionString = real.Dialect.WithUser(real.AdminConnectionString, "tdk_plain", password),
        });
        using var log = new LogCollector();
        await using var pool = await DatabasePool.CreateAsync(plain, new DatabasePoolOptions
        {
            CreateSchema = Schemas.Small(engine),
            MaxDatabases = 1,
            LoggerFactory = log,
        });

        await AssertFellBackAsync(pool, log, "TRIGGER command denied", ids: true, async connection =>
        {
            var denied = await Assert.ThrowsAsync<MySqlConnector.MySqlException>(() => connection.ExecuteAsync(
                "CREATE TRIGGER probe BEFORE INSERT ON notes FOR EACH ROW SET NEW.body = NEW.body"));
            Assert.True(denied.ErrorCode == MySqlConnector.MySqlErrorCode.TableAccessDenied, denied.Message);
        });
    }

    /// <summary>Where it really happens on PostgreSQL: the schema's tables belong to the application's owner role
    /// (migrations run as that role), and the kit's account may read, write and truncate them but not put
    /// triggers on them. The tracking cannot be installed, so the pool falls back to Respawn by itself, says so
    /// in its log, and its resets still empty what each test wrote, ended sessions it left in a transaction
    /// included. The tables have no sequences: Respawn restarts sequences with ALTER SEQUENCE, which only their
    /// owner may run, so with an id column here every reset would fail and each test get a new database
    /// (never a dirty one). Without PL/pgSQL in the template, the other way tracking fails, Respawn's reset of
    /// a table with an id failed as well.</summary>
    [Fact]
    public async Task A_schema_owned_by_another_role_falls_back_to_Respawn_by_itself()
    {
        const DbEngine engine = DbEngine.PostgreSql;
        await using var real = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        var password = Guid.NewGuid().ToString("N");
        var ownerPassword = Guid.NewGuid().ToString("N");
        await using (var admin = await real.OpenAdminConnectionAsync())
        {
            await admin.ExecuteAsync($"CREATE ROLE tdk_plain LOGIN CREATEDB PASSWORD '{password}'");
            await admin.ExecuteAsync($"CREATE ROLE tdk_owner LOGIN PASSWORD '{ownerPassword}'");
        }

        await using var plain = await DbServer.StartAsync(engine, new DbServerOptions
        {
            Provider = DbServerProvider.External,
            ConnectionString = real.Dialect.WithUser(real.AdminConnectionString, "tdk_plain", password),
        });
        using var log = new LogCollector();
        await using var pool = await DatabasePool.CreateAsync(plain, new DatabasePoolOptions
        {
            CreateSchema = async c =>
            {
                // The kit's account owns the new database and lets the owner role create in it; the owner role makes
                // the tables and grants the kit's account what the tests need. Not pooled: a template must be
                // left without sessions to be copied.
                await c.ExecuteAsync("GRANT CREATE ON SCHEMA public TO tdk_owner");
                var asOwner = new Npgsql.NpgsqlConnectionStringBuilder(real.Dialect.WithUser(real.ConnectionStringFor(c.Database), "tdk_owner", ownerPassword))
                {
                    Pooling = false,
                };
                await using var owner = new Npgsql.NpgsqlConnection(asOwner.ConnectionString);
                await owner.OpenAsync();
                await owner.ExecuteAsync("""
                    CREATE TABLE items (tag VARCHAR(50) NOT NULL);
                    CREATE TABLE notes (tag VARCHAR(50) PRIMARY KEY, body VARCHAR(200));
                    GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public TO tdk_plain;
                    """);
            },
            MaxDatabases = 1,
            LoggerFactory = log,
        });

        await AssertFellBackAsync(pool, log, "permission denied for table", ids: false, async connection =>
        {
            Assert.Equal("tdk_owner", await connection.ScalarAsync("SELECT tableowner FROM pg_tables WHERE tablename = 'items'"));
            var denied = await Assert.ThrowsAsync<Npgsql.PostgresException>(() => connection.ExecuteAsync(
                "CREATE FUNCTION probe() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN RETURN NULL; END $f$; " +
                "CREATE TRIGGER probe AFTER INSERT ON items EXECUTE FUNCTION probe()"));
            Assert.Equal("42501", denied.SqlState); // insufficient_privilege
        });
    }

    /// <summary>The pool did not install tracking and logged why; then three tests in a row find the same
    /// database empty (with ids restarted, where it has <paramref name="ids"/>), though each wrote rows and one left a transaction open.</summary>
    private static async Task AssertFellBackAsync(DatabasePool pool, LogCollector log, string why, bool ids, Func<DbConnection, Task> assertPremise)
    {
        var engine = pool.Server.Engine;
        Assert.False(pool.IsTracking, "tracking was installed although the account may not create triggers");
        var warning = Assert.Single(log.Entries, e => e.Message.StartsWith("Change tracking could not be installed", StringComparison.Ordinal));
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("resets use Respawn", warning.Message, StringComparison.Ordinal);
        Assert.Contains(why, warning.Message, StringComparison.Ordinal);

        string? first = null;
        DbConnection? leaked = null;
        DbTransaction? pending = null;
        for (var test = 0; test < 3; test++)
        {
            await using var db = await pool.LeaseAsync();
            first ??= db.Name;
            Assert.True(first == db.Name, $"{first} was replaced by {db.Name} after a failed reset. The pool's log:\n{log}");
            if (pending is not null)
            {
                // The reset ended the session the last test leaked, so its transaction can never commit here.
                await SessionEndedAsync(() => pending.CommitAsync(), "the commit of the leaked transaction");
                await leaked!.DisposeAsync();
                pending = null;
            }

            await using var connection = await db.OpenConnectionAsync();
            if (test == 0)
            {
                await assertPremise(connection); // on the test's own connection: no trigger can be made here
            }

            Assert.Equal(0, await connection.CountAsync("items"));
            Assert.Equal(0, await connection.CountAsync("notes"));
            if (ids)
            {
                Assert.Equal(1, await connection.InsertItemAsync(engine, $"test {test}")); // Respawn reseeds too
            }
            else
            {
                await connection.ExecuteAsync($"INSERT INTO items (tag) VALUES ('test {test}')");
            }

            await connection.ExecuteAsync($"INSERT INTO notes (tag) VALUES ('test {test}')");
            if (test == 1)
            {
                // Left open inside a transaction that holds a row lock: the reset must not wait for it.
                leaked = await db.OpenConnectionAsync();
                pending = await leaked.BeginTransactionAsync();
                await leaked.ExecuteAsync("INSERT INTO notes (tag) VALUES ('uncommitted')", pending);
            }
        }
    }
}
