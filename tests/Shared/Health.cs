using System.Data;
using System.Data.Common;

namespace TestDbKit.Tests.Common;

/// <summary>What both adapters' tests check and do to a test's connection: the same on xunit and NUnit.</summary>
public static class Health
{
    public static string ItemsSchema(DbEngine engine) =>
        $"CREATE TABLE items (id {(engine == DbEngine.PostgreSql ? "SERIAL" : "INT AUTO_INCREMENT")} PRIMARY KEY, tag VARCHAR(50) NOT NULL UNIQUE)";

    /// <summary>Creates <see cref="ItemsSchema"/>: the body of a test class's CreateSchemaAsync.</summary>
    public static async Task CreateItemsAsync(DbConnection connection, DbEngine engine)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = ItemsSchema(engine);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Fails unless the connection is open, answers, has no transaction left over, and the
    /// database holds no rows from an earlier test.</summary>
    public static async Task AssertHealthyAsync(DbConnection connection)
    {
        if (connection.State != ConnectionState.Open)
        {
            throw new InvalidOperationException($"the test's connection is {connection.State}, not Open");
        }

        await using (var transaction = await connection.BeginTransactionAsync())
        {
            var rows = Convert.ToInt64(await connection.ScalarAsync("SELECT COUNT(*) FROM items WHERE tag = 'dup'", transaction));
            if (rows != 0)
            {
                throw new InvalidOperationException($"the test started with {rows} rows left by an earlier test");
            }

            await transaction.RollbackAsync();
        }
    }

    /// <summary>The ways a test can break its connection or leave a mess, each as production does it. Each
    /// break proves it happened (the kill ended the session, the duplicate raised an integrity violation, the
    /// leak is visible on the server) and fails with <see cref="ExpectationException"/> if it did not: a fault
    /// injector that did nothing must not let "the next test starts healthy" pass.</summary>
    public static async Task BreakAsync(int how, DbEngine engine, DbConnection connection, TestDatabase database)
    {
        switch (how % 5)
        {
            case 0: // an integrity error inside a transaction left open (PostgreSQL: aborted, 25P02)
                var transaction = await connection.BeginTransactionAsync();
                await connection.ScalarAsync("INSERT INTO items (tag) VALUES ('dup')", transaction);
                var duplicate = await Expect.FailsAsync<DbException>(
                    () => connection.ScalarAsync("INSERT INTO items (tag) VALUES ('dup')", transaction), "the duplicate row");
                Expect.That(DbErrors.IsIntegrityViolation(duplicate) && !DbErrors.IsConnectionLost(duplicate),
                    $"the duplicate row should be an integrity violation on a live session, saw {duplicate.SqlState}: {duplicate.Message}");
                if (engine == DbEngine.PostgreSql)
                {
                    var aborted = await Expect.FailsAsync<DbException>(() => connection.ScalarAsync("SELECT 1", transaction), "a statement after the error");
                    Expect.That(DbErrors.IsTransactionAborted(aborted) && aborted.SqlState == "25P02",
                        $"the transaction should be aborted (25P02), saw {aborted.SqlState}: {aborted.Message}");
                }
                else
                {
                    // MySQL rolls back only the failed statement: the transaction holds the first row.
                    var rows = Convert.ToInt64(await connection.ScalarAsync("SELECT COUNT(*) FROM items WHERE tag = 'dup'", transaction));
                    Expect.That(rows == 1, $"the open transaction should hold the first 'dup' row, holds {rows}");
                }

                break;
            case 1: // the server kills the session (through the kit's fault injector)
                var session = await connection.SessionIdAsync(engine);
                await database.Faults.KillSessionAsync(connection);
                await Expect.ConnectionLostAsync(() => connection.ScalarAsync("SELECT 1"), $"the test's connection after killing session {session}");
                await ServerSessions.WaitUntilGoneAsync(database.Server, engine, session);
                break;
            case 2: // a leaked connection holding uncommitted rows
                var leaked = await database.OpenConnectionAsync();
                var leakedSession = await leaked.SessionIdAsync(engine);
                var open = await leaked.BeginTransactionAsync();
                await leaked.ScalarAsync("INSERT INTO items (tag) VALUES ('leaked')", open);
                await ServerSessions.WaitUntilInTransactionAsync(database.Server, engine, leakedSession);
                break;
            case 3: // committed rows on another connection, then every session of the database killed
                await using (var other = await database.OpenConnectionAsync())
                {
                    await other.ScalarAsync("INSERT INTO items (tag) VALUES ('committed')");
                }

                var mine = await connection.SessionIdAsync(engine);
                await using (var admin = await database.Server.OpenAdminConnectionAsync())
                {
                    var killed = engine == DbEngine.PostgreSql
                        ? Convert.ToInt64(await admin.ScalarAsync(
                            $"SELECT COUNT(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{database.Name}' AND pid <> pg_backend_pid()"))
                        : await KillAllAsync(admin, database.Name);
                    Expect.That(killed >= 1, $"killing every session of {database.Name} ended {killed}; the test's own session {mine} was one of them");
                }

                await ServerSessions.WaitUntilGoneAsync(database.Server, engine, mine);
                break;
            default: // a statement fails mid-transaction and the test just ends
                var missing = await Expect.FailsAsync<DbException>(() => connection.ScalarAsync("SELECT * FROM no_such_table"), "a query of a missing table");
                Expect.That(missing.SqlState == (engine == DbEngine.PostgreSql ? "42P01" : "42S02") && !DbErrors.IsTransient(missing),
                    $"a query of a missing table should fail with 'undefined table', saw {missing.SqlState}: {missing.Message}");
                break;
        }
    }

    /// <summary>KILLs every session of <paramref name="database"/>; returns how many it ended. A session that
    /// ended on its own between the listing and its KILL (1094, unknown thread) is not counted.</summary>
    private static async Task<long> KillAllAsync(DbConnection admin, string database)
    {
        var killed = 0L;
        foreach (var victim in await admin.IdsAsync($"SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{database}' AND ID <> CONNECTION_ID()"))
        {
            try
            {
                await admin.ScalarAsync($"KILL {victim}");
                killed++;
            }
            catch (MySqlConnector.MySqlException e) when (e.Number == 1094)
            {
                // Gone already.
            }
        }

        return killed;
    }
}
