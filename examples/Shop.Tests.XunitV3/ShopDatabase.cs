using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using MySqlConnector;
using Npgsql;
using Orders.Tests;
using TestDbKit;
using TestDbKit.Xunit;

namespace Shop.Tests;

/// <summary>
/// The shop's schema from its own migrations, on a database of the test's own: the schema hook runs
/// <c>MigrateAsync</c> once per run (on PostgreSQL in the template every test database is copied from), and every
/// test starts on the migrated database with the seed rows, whatever the test before it wrote or broke.
/// </summary>
public abstract class ShopDatabase(DbEngine engine) : ResilientDbTestBase(engine)
{
    /// <summary>The shop's service on this test's database, as the application configures it.</summary>
    protected ShopService Shop => new(() => Context());

    /// <summary>A context on this test's database (it opens its own connections).</summary>
    protected ShopContext Context(Action<DbContextOptionsBuilder>? more = null) => ShopDb.Create(Engine, Database.ConnectionString, more);

    /// <summary>Migrations need a context that opens its own connections: the target's connection string.</summary>
    protected override async Task CreateSchemaAsync(SchemaTarget target, CancellationToken ct)
    {
        await using var db = ShopDb.Create(target.Engine, target.ConnectionString);
        await db.Database.MigrateAsync(ct);
    }

    /// <summary>Pomelo works on a connection it is given only when that connection's string allows user variables
    /// and reports found (not affected) rows: so every connection string the kit hands out on MySQL says so.</summary>
    protected override void Configure(TestDbOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (Engine == DbEngine.MySql)
        {
            options.ConnectionString += c =>
            {
                c["AllowUserVariables"] = true;
                c["UseAffectedRows"] = false;
            };
        }
    }

    /// <summary>The server session behind an open connection, as its driver knows it.</summary>
    protected static long SessionOf(DbConnection connection) => connection switch
    {
        NpgsqlConnection npgsql => npgsql.ProcessID,
        MySqlConnection mysql => mysql.ServerThread,
        _ => throw new ArgumentException($"not a connection of a known driver: {connection.GetType()}", nameof(connection)),
    };

    /// <summary>Kills the session behind <paramref name="connection"/> and waits until the server no longer lists it.</summary>
    protected async Task KillAsync(DbConnection connection, CancellationToken ct = default)
    {
        var session = SessionOf(connection);
        await Faults.KillSessionAsync(connection, ct);
        var patience = DateTime.UtcNow.AddSeconds(10);
        while ((await Database.Server.SessionsAsync(Database.Name)).Contains(session))
        {
            Assert.True(DateTime.UtcNow < patience, $"session {session} still listed 10 s after the kill");
            await Task.Delay(10, ct);
        }
    }
}
