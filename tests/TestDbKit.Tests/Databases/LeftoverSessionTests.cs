using System.Data.Common;
using TestDbKit.Engines;
using static TestDbKit.Tests.Databases.PoolSetup;

namespace TestDbKit.Tests.Databases;

/// <summary>Sessions a test leaves behind (killed, leaked, inside a transaction) are ended by the reset and never commit into the next test.</summary>
public sealed class LeftoverSessionTests
{
    [Theory]
    [MemberData(nameof(PoolSetup.TrackedSetups), MemberType = typeof(PoolSetup))]
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

            await SessionEndedAsync(() => killed.ExecuteAsync("SELECT 1"), "the killed connection"); // proves the kill happened
            leaked = await db.OpenConnectionAsync();
            pending = await leaked.BeginTransactionAsync();
            await leaked.ExecuteAsync("INSERT INTO notes (tag) VALUES ('uncommitted')", pending);
        }

        // The reset ended the leaked session, so its transaction can never commit into the next test.
        await SessionEndedAsync(() => pending.CommitAsync(), "the commit of the leaked transaction");
        await leaked.DisposeAsync();
        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("items"));
            Assert.Equal(0, await connection.CountAsync("notes"));
        }
    }

    [Theory]
    [MemberData(nameof(PoolSetup.TrackedSetups), MemberType = typeof(PoolSetup))]
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

            await SessionEndedAsync(() => pending.CommitAsync(), "the commit of the leaked transaction");
            await leaked.DisposeAsync();
            await using var next = await pool.LeaseAsync();
            await using var connection = await next.OpenConnectionAsync();
            Assert.Equal(0, await connection.CountAsync("notes"));
        }
    }
}
