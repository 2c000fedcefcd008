using System.Data;
using Microsoft.EntityFrameworkCore;
using MySqlConnector;
using TestDbKit;
using Xunit;

namespace Shop.Tests;

/// <summary>
/// Pomelo's <c>EnableRetryOnFailure</c> against the shop's <see cref="TransientRetryStrategy"/>, on a session killed
/// under SaveChanges: MySqlConnector reports it as "Failed to read the result set." with error code 0, which Pomelo
/// does not count as transient and <see cref="DbErrors.IsTransient"/> does.
/// </summary>
public sealed class MySqlRetryStrategyTests() : ShopDatabase(DbEngine.MySql)
{
    [Fact]
    public async Task Pomelos_EnableRetryOnFailure_does_not_retry_a_killed_session_and_the_few_lines_do()
    {
        // Pomelo's own strategy: the error comes straight out, after one attempt.
        var pomeloKill = new KillUnderCommand(KillAsync);
        var (pomeloAttempts, pomeloError) = await AddCupAsync(new DbContextOptionsBuilder<MariaDbShopContext>()
            .UseMySql(Database.ConnectionString, ShopDb.MariaDb, o => o.EnableRetryOnFailure(3, TimeSpan.FromMilliseconds(50), null))
            .AddInterceptors(pomeloKill).Options);
        Assert.Equal(1, pomeloKill.Killed); // the premise: the session died under the INSERT
        Assert.NotNull(pomeloError);
        var mysql = Inner<MySqlException>(pomeloError);
        Assert.Equal("Failed to read the result set.", mysql.Message);
        Assert.Equal(0, mysql.Number);
        Assert.True(DbErrors.IsTransient(pomeloError));
        Assert.Equal(1, pomeloAttempts); // not retried

        // The few lines: retried on a new session, and the row is stored once.
        var kill = new KillUnderCommand(KillAsync);
        var (attempts, error) = await AddCupAsync(new DbContextOptionsBuilder<MariaDbShopContext>()
            .UseMySql(Database.ConnectionString, ShopDb.MariaDb, o => o.ExecutionStrategy(d => new TransientRetryStrategy(d)))
            .AddInterceptors(kill).Options);
        Assert.Equal(1, kill.Killed);
        Assert.Null(error);
        Assert.Equal(2, attempts);
        await using var db = Context();
        Assert.Equal(1, await db.Products.CountAsync(p => p.Sku == "CUP-01"));
    }

    /// <summary>Adds a product through the context's execution strategy; returns how often the strategy ran the unit
    /// of work, and what it threw.</summary>
    private static async Task<(int Attempts, Exception? Error)> AddCupAsync(DbContextOptions<MariaDbShopContext> options)
    {
        await using var db = new MariaDbShopContext(options);
        var attempts = 0;
        try
        {
            await db.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
            {
                attempts++;
                db.ChangeTracker.Clear();
                db.Products.Add(new Product { Sku = "CUP-01", Name = "Cup", Price = 3m });
                await db.SaveChangesAsync();
            });
            return (attempts, null);
        }
        catch (Exception e)
        {
            return (attempts, e);
        }
    }

    private static T Inner<T>(Exception e)
        where T : Exception
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is T found)
            {
                return found;
            }
        }

        throw new Xunit.Sdk.XunitException($"no {typeof(T).Name} in {e}");
    }
}

/// <summary>
/// What EF's retry does to the kit's <c>Connection</c> when the context was given it: the session behind it is
/// killed under SaveChanges and the strategy retries. EF finds the connection closed (Npgsql) or broken
/// (MySqlConnector), opens it again itself (a new session) for the retry, and, having opened it, closes it when the
/// unit of work ends: afterwards <c>Connection</c> is closed, and a test that goes on using it opens it again.
/// </summary>
public abstract class ConnectionAfterRetryTests(DbEngine engine, ITestOutputHelper output) : ShopDatabase(engine)
{
    [Fact]
    public async Task After_EFs_retry_the_Connection_is_closed_and_opens_on_a_new_session()
    {
        var connection = Connection;
        var before = SessionOf(connection);
        var kill = new KillUnderCommand(KillAsync);
        var attempts = 0;
        await using (var db = ShopDb.Create(Engine, connection, b => b.AddInterceptors(kill)))
        {
            await db.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
            {
                attempts++;
                db.ChangeTracker.Clear();
                db.Products.Add(new Product { Sku = "CUP-01", Name = "Cup", Price = 3m });
                await db.SaveChangesAsync();
            });
            Assert.Equal(ConnectionState.Closed, connection.State); // already inside the context's life
        }

        Assert.Equal(1, kill.Killed); // the premise: the session behind Connection died under the INSERT
        Assert.Equal(2, attempts);
        Assert.Same(connection, Connection); // the same object, closed
        Assert.Equal(ConnectionState.Closed, Connection.State);
        output.WriteLine($"session {before} killed; Connection closed after EF's retry");
        await Connection.OpenAsync();
        Assert.NotEqual(before, SessionOf(Connection));
        Assert.Equal(4L, Convert.ToInt64(await Orders.Tests.Sql.ScalarAsync(Connection, "SELECT COUNT(*) FROM products"), System.Globalization.CultureInfo.InvariantCulture));
    }
}

public sealed class PostgreSqlConnectionAfterRetryTests(ITestOutputHelper output) : ConnectionAfterRetryTests(DbEngine.PostgreSql, output);

public sealed class MySqlConnectionAfterRetryTests(ITestOutputHelper output) : ConnectionAfterRetryTests(DbEngine.MySql, output);
