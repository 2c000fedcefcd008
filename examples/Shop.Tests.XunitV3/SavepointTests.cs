using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using TestDbKit;

namespace Shop.Tests;

/// <summary>
/// Inside a transaction, EF Core sets a savepoint before each SaveChanges and rolls back to it when SaveChanges
/// fails, so on PostgreSQL (where any failed statement aborts the transaction: 25P02 for every statement after) the
/// transaction goes on. A failed raw statement has no savepoint: on PostgreSQL it aborts the transaction. MariaDB
/// aborts nothing for a failed statement, savepoint or not.
/// </summary>
public abstract class SavepointTests(DbEngine engine) : ShopDatabase(engine)
{
    [Fact]
    public async Task A_failed_SaveChanges_inside_a_transaction_leaves_the_transaction_usable()
    {
        var outcome = await RefuseThenSaveAsync(autoSavepoints: true, refuse: db =>
        {
            db.Products.Add(new Product { Sku = "TEA-01", Name = "Tea again", Price = 1m });
            return db.SaveChangesAsync();
        });
        Assert.Null(outcome); // the save after the refused one worked, and the commit kept both good rows
        Assert.Equal(["BOWL-01", "CUP-01"], await AddedSkusAsync());
    }

    [Fact]
    public async Task Without_EFs_savepoint_the_failed_SaveChanges_aborts_a_PostgreSQL_transaction()
    {
        // The control for the test above: the same unit of work with EF's automatic savepoints turned off.
        var outcome = await RefuseThenSaveAsync(autoSavepoints: false, refuse: db =>
        {
            db.Products.Add(new Product { Sku = "TEA-01", Name = "Tea again", Price = 1m });
            return db.SaveChangesAsync();
        });
        await AssertAbortedOnPostgreSqlOnly(outcome);
    }

    [Fact]
    public async Task A_failed_raw_statement_inside_a_transaction_aborts_a_PostgreSQL_transaction()
    {
        var outcome = await RefuseThenSaveAsync(autoSavepoints: true, refuse: db => db.Database.ExecuteSqlRawAsync(Engine == DbEngine.PostgreSql
            ? "INSERT INTO products (\"Sku\", \"Name\", \"Price\") VALUES ('TEA-01', 'Tea again', 1)"
            : "INSERT INTO products (Sku, Name, Price) VALUES ('TEA-01', 'Tea again', 1)"));
        await AssertAbortedOnPostgreSqlOnly(outcome);
    }

    private async Task AssertAbortedOnPostgreSqlOnly(Exception? outcome)
    {
        if (Engine == DbEngine.PostgreSql)
        {
            Assert.NotNull(outcome);
            Assert.True(DbErrors.IsTransactionAborted(outcome), outcome.ToString()); // 25P02
            Assert.Empty(await AddedSkusAsync()); // nothing was committed
        }
        else
        {
            Assert.Null(outcome);
            Assert.Equal(["BOWL-01", "CUP-01"], await AddedSkusAsync());
        }
    }

    /// <summary>In one transaction: saves a product, lets <paramref name="refuse"/> hit the unique SKU (the premise:
    /// it must be refused as an integrity violation), saves another product and commits. Returns what the save
    /// after the refusal threw, or null.</summary>
    private async Task<Exception?> RefuseThenSaveAsync(bool autoSavepoints, Func<ShopContext, Task> refuse)
    {
        await using var db = Context();
        db.Database.AutoSavepointsEnabled = autoSavepoints;
        return await db.Database.CreateExecutionStrategy().ExecuteAsync(async () =>
        {
            db.ChangeTracker.Clear();
            await using var transaction = await db.Database.BeginTransactionAsync();
            db.Products.Add(new Product { Sku = "CUP-01", Name = "Cup", Price = 3m });
            await db.SaveChangesAsync();

            var refused = await Assert.ThrowsAnyAsync<Exception>(() => refuse(db));
            Assert.True(DbErrors.IsIntegrityViolation(refused), refused.ToString());

            db.ChangeTracker.Clear();
            db.Products.Add(new Product { Sku = "BOWL-01", Name = "Bowl", Price = 6m });
            try
            {
                await db.SaveChangesAsync();
            }
            catch (Exception e) when (e is DbUpdateException or DbException)
            {
                return e;
            }

            await transaction.CommitAsync();
            return null;
        });
    }

    private async Task<List<string>> AddedSkusAsync()
    {
        await using var db = Context();
        return await db.Products.Where(p => p.Id > 3).OrderBy(p => p.Sku).Select(p => p.Sku).ToListAsync();
    }
}

public sealed class PostgreSqlSavepointTests() : SavepointTests(DbEngine.PostgreSql);

public sealed class MySqlSavepointTests() : SavepointTests(DbEngine.MySql);
