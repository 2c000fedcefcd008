using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using MySqlConnector;
using Npgsql.EntityFrameworkCore.PostgreSQL.Infrastructure;
using TestDbKit;

namespace Shop;

/// <summary>
/// Builds the shop's context for an engine, the way the application configures it: on PostgreSQL Npgsql's provider
/// with <c>MapEnum</c> (its recommended set-up for enums), on MariaDB Pomelo's; on both the retrying
/// <see cref="TransientRetryStrategy"/>.
/// </summary>
public static class ShopDb
{
    /// <summary>The MariaDB version Pomelo is told (detecting it would cost a round trip per context).</summary>
    public static readonly ServerVersion MariaDb = new MariaDbServerVersion(new Version(10, 11));

    /// <summary>A context that opens its own connections from <paramref name="connectionString"/>.</summary>
    /// <param name="engine">The database's engine.</param>
    /// <param name="connectionString">Where the database is.</param>
    /// <param name="more">Anything else (logging, interceptors); runs after the provider's set-up.</param>
    public static ShopContext Create(DbEngine engine, string connectionString, Action<DbContextOptionsBuilder>? more = null) =>
        engine == DbEngine.PostgreSql
            ? new PostgreSqlShopContext(Build<PostgreSqlShopContext>(b => b.UseNpgsql(connectionString, Npgsql), more))
            : new MariaDbShopContext(Build<MariaDbShopContext>(b => b.UseMySql(connectionString, MariaDb, o => o.ExecutionStrategy(d => new TransientRetryStrategy(d))), more));

    /// <summary>A context on a connection the caller owns (open or not; EF does not dispose it). Pomelo wants
    /// <c>AllowUserVariables=True;UseAffectedRows=False</c> in that connection's string.</summary>
    /// <param name="engine">The database's engine.</param>
    /// <param name="connection">The caller's connection.</param>
    /// <param name="more">Anything else (logging, interceptors); runs after the provider's set-up.</param>
    public static ShopContext Create(DbEngine engine, DbConnection connection, Action<DbContextOptionsBuilder>? more = null) =>
        engine == DbEngine.PostgreSql
            ? new PostgreSqlShopContext(Build<PostgreSqlShopContext>(b => b.UseNpgsql(connection, Npgsql), more))
            : new MariaDbShopContext(Build<MariaDbShopContext>(b => b.UseMySql((MySqlConnection)connection, MariaDb, o => o.ExecutionStrategy(d => new TransientRetryStrategy(d))), more));

    private static void Npgsql(NpgsqlDbContextOptionsBuilder o)
    {
        o.MapEnum<OrderStatus>("order_status");
        o.ExecutionStrategy(d => new TransientRetryStrategy(d));
    }

    private static DbContextOptions<T> Build<T>(Action<DbContextOptionsBuilder<T>> provider, Action<DbContextOptionsBuilder>? more)
        where T : DbContext
    {
        var builder = new DbContextOptionsBuilder<T>();
        provider(builder);
        more?.Invoke(builder);
        return builder.Options;
    }
}

/// <summary>For <c>dotnet ef migrations add .. --context PostgreSqlShopContext</c>: no database is reached.</summary>
public sealed class PostgreSqlShopContextFactory : IDesignTimeDbContextFactory<PostgreSqlShopContext>
{
    /// <inheritdoc />
    public PostgreSqlShopContext CreateDbContext(string[] args) =>
        (PostgreSqlShopContext)ShopDb.Create(DbEngine.PostgreSql, "Host=localhost;Database=shop");
}

/// <summary>For <c>dotnet ef migrations add .. --context MariaDbShopContext</c>: no database is reached.</summary>
public sealed class MariaDbShopContextFactory : IDesignTimeDbContextFactory<MariaDbShopContext>
{
    /// <inheritdoc />
    public MariaDbShopContext CreateDbContext(string[] args) =>
        (MariaDbShopContext)ShopDb.Create(DbEngine.MySql, "Server=localhost;Database=shop");
}
