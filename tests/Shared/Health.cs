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

    public static async Task<object?> ScalarAsync(this DbConnection connection, string sql, DbTransaction? transaction = null)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return await command.ExecuteScalarAsync();
    }

    public static async Task<long> SessionIdAsync(this DbConnection connection, DbEngine engine) =>
        Convert.ToInt64(await connection.ScalarAsync(engine == DbEngine.PostgreSql ? "SELECT pg_backend_pid()" : "SELECT CONNECTION_ID()"));

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
            var rows = Convert.ToInt64(await connection.ScalarAsync("SELECT COUNT(*) FROM items", transaction));
            if (rows != 0)
            {
                throw new InvalidOperationException($"the test started with {rows} rows left by an earlier test");
            }

            await transaction.RollbackAsync();
        }
    }

    /// <summary>The ways a test can break its connection or leave a mess, each as production does it.</summary>
    public static async Task BreakAsync(int how, DbEngine engine, DbConnection connection, TestDatabase database)
    {
        switch (how % 5)
        {
            case 0: // an integrity error inside a transaction left open (PostgreSQL: aborted, 25P02)
                var transaction = await connection.BeginTransactionAsync();
                await connection.ScalarAsync("INSERT INTO items (tag) VALUES ('dup')", transaction);
                await Ignore(() => connection.ScalarAsync("INSERT INTO items (tag) VALUES ('dup')", transaction));
                break;
            case 1: // the server kills the session (through the kit's fault injector)
                await database.Faults.KillSessionAsync(connection);
                await Ignore(() => connection.ScalarAsync("SELECT 1"));
                break;
            case 2: // a leaked connection holding uncommitted rows
                var leaked = await database.OpenConnectionAsync();
                var open = await leaked.BeginTransactionAsync();
                await leaked.ScalarAsync("INSERT INTO items (tag) VALUES ('leaked')", open);
                break;
            case 3: // committed rows on another connection, then every session of the database killed
                await using (var other = await database.OpenConnectionAsync())
                {
                    await other.ScalarAsync("INSERT INTO items (tag) VALUES ('committed')");
                }

                await using (var admin = await database.Server.OpenAdminConnectionAsync())
                {
                    await admin.ScalarAsync(engine == DbEngine.PostgreSql
                        ? $"SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{database.Name}' AND pid <> pg_backend_pid()"
                        : $"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = '{database.Name}'");
                    if (engine == DbEngine.MySql)
                    {
                        foreach (var victim in await IdsAsync(admin, $"SELECT ID FROM information_schema.PROCESSLIST WHERE DB = '{database.Name}'"))
                        {
                            await Ignore(() => admin.ScalarAsync($"KILL {victim}"));
                        }
                    }
                }

                break;
            default: // a statement fails mid-transaction and the test just ends
                await Ignore(() => connection.ScalarAsync("SELECT * FROM no_such_table"));
                break;
        }
    }

    private static async Task<List<long>> IdsAsync(DbConnection connection, string sql)
    {
        var ids = new List<long>();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            ids.Add(Convert.ToInt64(reader.GetValue(0)));
        }

        return ids;
    }

    private static async Task Ignore(Func<Task> action)
    {
        try
        {
            await action();
        }
        catch (Exception e) when (e is DbException or InvalidOperationException or IOException)
        {
            // Breaking it was the point.
        }
    }
}
