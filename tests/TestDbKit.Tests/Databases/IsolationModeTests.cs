using System.Data.Common;
using TestDbKit.Engines;
using static TestDbKit.Tests.Databases.PoolSetup;

namespace TestDbKit.Tests.Databases;

/// <summary>The isolation modes: parallel leases, Transaction (roll back, then reset) and Clone (a fresh database per test).</summary>
public sealed class IsolationModeTests
{
    [Theory]
    [MemberData(nameof(PoolSetup.TrackedSetups), MemberType = typeof(PoolSetup))]
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
    [MemberData(nameof(PoolSetup.TrackedSetups), MemberType = typeof(PoolSetup))]
    public async Task Transaction_mode_rolls_back_and_still_clears_what_was_committed_elsewhere(DbEngine engine, bool triggers)
    {
        await using var pool = await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine),
            new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1, TrackWithTriggers = triggers, Isolation = IsolationMode.Transaction });
        await using (var db = await pool.LeaseAsync())
        {
            await using var connection = await db.OpenConnectionAsync();
            await connection.InsertItemAsync(engine, "rolled back");
            Assert.Equal(1, await connection.CountAsync("items"));
            await Assert.ThrowsAsync<InvalidOperationException>(() => connection.BeginTransactionAsync().AsTask()); // exactly: a disposed connection would throw a subclass

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
    [MemberData(nameof(PoolSetup.TrackedSetups), MemberType = typeof(PoolSetup))]
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

    [Theory]
    [MemberData(nameof(PoolSetup.TrackedSetups), MemberType = typeof(PoolSetup))]
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
            var noColumn = await Assert.ThrowsAnyAsync<DbException>(() => connection.ScalarAsync("SELECT extra FROM items"));
            Assert.Equal(engine == DbEngine.PostgreSql ? "42703" : "42S22", noColumn.SqlState); // undefined column
            var noTable = await Assert.ThrowsAnyAsync<DbException>(() => connection.ScalarAsync("SELECT COUNT(*) FROM scratch"));
            Assert.Equal(engine == DbEngine.PostgreSql ? "42P01" : "42S02", noTable.SqlState); // undefined table
        }
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
}
