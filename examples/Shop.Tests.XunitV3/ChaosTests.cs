using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;
using TestDbKit;

namespace Shop.Tests;

/// <summary>
/// The shop keeps working while sessions are killed under it, through its retrying execution strategy, and loses no
/// acknowledged order. Run them alone in a pipeline step with: --filter Category=Chaos (VSTest) or
/// --filter-trait "Category=Chaos" (the xunit v3 executable).
/// </summary>
[Trait("Category", "Chaos")]
public abstract class ShopChaosTests(DbEngine engine, ITestOutputHelper output) : ShopDatabase(engine)
{
    [Fact]
    public async Task An_order_whose_session_is_killed_under_SaveChanges_is_stored_once()
    {
        var kill = new KillUnderCommand(KillAsync);
        var shop = new ShopService(() => Context(b => b.AddInterceptors(kill)));
        var order = await shop.PlaceOrderAsync("r-1", "ada", "POT-01", 1);
        Assert.Equal(1, kill.Killed); // the premise: the INSERT met a dead session
        Assert.Equal(OrderStatus.Pending, order.Status);
        Assert.Equal(["r-1"], await Shop.ReferencesAsync());
    }

    [Fact]
    public async Task No_acknowledged_order_is_lost_when_sessions_are_killed_while_the_service_works()
    {
        var failures = new FailedCommands();
        var shop = new ShopService(() => Context(b => b.AddInterceptors(failures)));
        var ledger = new WriteLedger(); // every order's outcome, checked against the orders table at the end
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(1, 4).Select(w => Task.Run(async () =>
        {
            for (var i = 1; !stop.IsCancellationRequested; i++)
            {
                var reference = $"w{w}-{i}";
                await ledger.RecordAsync(reference, ct => shop.PlaceOrderAsync(reference, $"customer {w}", "TEA-01", 1, ct));
            }
        })).ToList();

        // Kill every session of the database each time the writers made progress, until the kills reached a unit of
        // work in flight (a command failed and the strategy retried it) three times, for at most 30 s.
        var kills = 0;
        var killed = 0;
        var patience = DateTime.UtcNow.AddSeconds(30);
        while (failures.Count < 3 && DateTime.UtcNow < patience && writers.TrueForAll(t => !t.IsCompleted))
        {
            var seen = Acknowledged();
            while (Acknowledged() < seen + 3 && writers.TrueForAll(t => !t.IsCompleted))
            {
                await Task.Delay(5);
            }

            killed += await Faults.KillAllSessionsAsync();
            kills++;
        }

        await stop.CancelAsync();
        await Task.WhenAll(writers); // a writer that failed (a retry that gave up) fails the test here
        output.WriteLine($"{kills} kill(s) ended {killed} session(s); {failures.Count} command(s) failed and were retried");
        Assert.True(failures.Count >= 1, "no kill reached a unit of work in flight: the test proved nothing");
        // Every acknowledged order stored, none twice; throws with the offending orders and the kills around them. Read
        // on a new connection: the kills ended the test's own Connection too.
        await using var reader = await Database.OpenConnectionAsync();
        var result = await ledger.VerifyAsync(reader, Engine == DbEngine.PostgreSql ? "SELECT \"Reference\" FROM orders" : "SELECT Reference FROM orders");
        output.WriteLine(result.Summary);

        int Acknowledged() => ledger.Writes.Count(o => o.Outcome == WriteOutcome.Acknowledged);
    }

    /// <summary>Counts the commands that failed with an error the strategy retries.</summary>
    private sealed class FailedCommands : DbCommandInterceptor
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public override Task CommandFailedAsync(DbCommand command, CommandErrorEventData eventData, CancellationToken cancellationToken = default)
        {
            if (DbErrors.IsTransient(eventData.Exception))
            {
                Interlocked.Increment(ref _count);
            }

            return Task.CompletedTask;
        }
    }
}

public sealed class PostgreSqlShopChaosTests(ITestOutputHelper output) : ShopChaosTests(DbEngine.PostgreSql, output);

public sealed class MySqlShopChaosTests(ITestOutputHelper output) : ShopChaosTests(DbEngine.MySql, output);
