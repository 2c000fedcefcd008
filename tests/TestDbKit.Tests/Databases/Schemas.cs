using System.Data.Common;
using System.Text;

namespace TestDbKit.Tests.Databases;

/// <summary>Schemas the pool tests run on, written for each engine.</summary>
internal static class Schemas
{
    public static string AutoId(DbEngine engine) => engine == DbEngine.PostgreSql ? "SERIAL PRIMARY KEY" : "INT AUTO_INCREMENT PRIMARY KEY";

    /// <summary>items (auto id) and notes (natural key) plus a view over items.</summary>
    public static Func<DbConnection, Task> Small(DbEngine engine) => c => c.ExecuteAsync($"""
        CREATE TABLE items (id {AutoId(engine)}, tag VARCHAR(50) NOT NULL);
        CREATE TABLE notes (tag VARCHAR(50) PRIMARY KEY, body VARCHAR(200));
        CREATE VIEW item_tags AS SELECT tag, COUNT(*) AS n FROM items GROUP BY tag;
        """);

    /// <summary>Two tables that reference each other, and a view.</summary>
    public static Func<DbConnection, Task> Cycle(DbEngine engine) => c => c.ExecuteAsync($"""
        CREATE TABLE a (id INT PRIMARY KEY, b_id INT NULL);
        CREATE TABLE b (id INT PRIMARY KEY, a_id INT NULL REFERENCES a (id));
        ALTER TABLE a ADD CONSTRAINT a_b FOREIGN KEY (b_id) REFERENCES b (id);
        CREATE VIEW ab AS SELECT a.id AS a_id, b.id AS b_id FROM a JOIN b ON b.a_id = a.id;
        """);

    /// <summary><paramref name="count"/> tables in a foreign-key chain, each with an auto id.</summary>
    public static Func<DbConnection, Task> Chain(DbEngine engine, int count) => c =>
    {
        var sql = new StringBuilder();
        for (var i = 0; i < count; i++)
        {
            var parent = i == 0 ? "" : $", parent_id INT NULL REFERENCES t{i - 1} (id)";
            sql.AppendLine($"CREATE TABLE t{i} (id {AutoId(engine)}, v INT NOT NULL{parent});");
        }

        return c.ExecuteAsync(sql.ToString());
    };

    public static async Task<long> CountAsync(this DbConnection connection, string table) =>
        Convert.ToInt64(await connection.ScalarAsync($"SELECT COUNT(*) FROM {table}"));

    /// <summary>Inserts a row into items and returns its id.</summary>
    public static async Task<long> InsertItemAsync(this DbConnection connection, DbEngine engine, string tag)
    {
        if (engine == DbEngine.PostgreSql)
        {
            return Convert.ToInt64(await connection.ScalarAsync($"INSERT INTO items (tag) VALUES ('{tag}') RETURNING id"));
        }

        await connection.ExecuteAsync($"INSERT INTO items (tag) VALUES ('{tag}')");
        return Convert.ToInt64(await connection.ScalarAsync("SELECT LAST_INSERT_ID()"));
    }
}
