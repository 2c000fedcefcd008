using System.Data.Common;
using TestDbKit.Tests.Databases;

namespace TestDbKit.Tests.Ledger;

/// <summary>
/// The ledger on real servers, with the kit's real faults and the real drivers: each violation it must catch is
/// made real first (a row deleted behind its back, a blind retry after an ambiguous COMMIT, a write left without
/// an outcome), and writers that retry idempotently under faults pass.
/// </summary>
public sealed class WriteLedgerTests
{
    private const string Notes = "SELECT tag FROM notes";

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task An_acknowledged_write_deleted_behind_its_back_is_reported_lost_with_the_fault_before_it(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine);
        await using var db = await pool.LeaseAsync();
        var ledger = new WriteLedger();
        var writer = new IdempotentWriter(db);
        await writer.WriteAsync(ledger, "k1");
        await writer.WriteAsync(ledger, "k2");
        Assert.Equal(1, await db.Faults.Network.ResetConnectionsAsync()); // the writer's pooled connection
        await writer.WriteAsync(ledger, "k3");

        await using var direct = await db.OpenConnectionAsync();
        Assert.True((await ledger.VerifyAsync(direct, Notes)).IsConsistent);
        Assert.Equal(1, await direct.ExecuteAsync("DELETE FROM notes WHERE tag = 'k3'"));

        var broken = await Assert.ThrowsAsync<WriteLedgerException>(() => ledger.VerifyAsync(direct, Notes));
        var lost = Assert.Single(broken.Result.Violations);
        Assert.Equal((LedgerViolationKind.Lost, "k3", 0L), (lost.Kind, lost.Write.Key, lost.Copies));
        Assert.Contains(lost.Faults, f => f.Contains("(before) network-reset on " + db.Name, StringComparison.Ordinal));
        Assert.Contains("Lost (1)", broken.Message, StringComparison.Ordinal);
        Assert.Contains("'k3' acknowledged, found 0 time(s)", broken.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_blind_retry_after_an_ambiguous_commit_is_reported_duplicated_with_its_fault_and_not_other_tests_faults(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine);
        await using var db = await pool.LeaseAsync();
        var ledger = new WriteLedger();
        Exception? firstAttempt = null;
        // What tests beside this one put on the process's timeline: a fault on a database of their own, a crash of a
        // server of their own; and one on this test's server, which reaches its database too.
        var endpoint = db.Server.Dialect.EndpointOf(db.Server.AdminConnectionString);
        Assert.NotNull(endpoint);
        TestDbKit.Diagnostics.FaultLog.Record(TestDbKit.Faults.FaultCatalogue.Get<TestDbKit.Faults.KillAllSessions>(), "tdk_of_another_test");
        TestDbKit.Diagnostics.FaultLog.Record(TestDbKit.Faults.FaultCatalogue.Get<TestDbKit.Faults.Crash>(), "a server of another test", endpoint: "loopback:1");
        TestDbKit.Diagnostics.FaultLog.Record(TestDbKit.Faults.FaultCatalogue.Get<TestDbKit.Faults.Restart>(), db.Server.ToString(), endpoint: endpoint);
        await using (await db.Faults.Network.AmbiguousCommitAsync())
        {
            var outcome = await ledger.TryRecordAsync("paid", async ct =>
            {
                try
                {
                    await using var proxied = await db.Server.OpenConnectionAsync(db.Faults.Network.ConnectionString);
                    await InsertAsync(proxied, "items", "paid", ct);
                }
                catch (Exception e) when (DbErrors.IsTransient(e))
                {
                    // The mistake under test: the write is retried as if it had surely not happened.
                    firstAttempt = e;
                    await using var again = await db.OpenConnectionAsync(ct);
                    await InsertAsync(again, "items", "paid", ct);
                }
            });
            Assert.Equal(WriteOutcome.Acknowledged, outcome);
        }

        Assert.NotNull(firstAttempt);
        Assert.True(DbErrors.IsConnectionLost(firstAttempt), $"the COMMIT's reply was lost: {firstAttempt}");
        await using var direct = await db.OpenConnectionAsync();
        Assert.Equal(2, await direct.CountAsync("items WHERE tag = 'paid'"));

        var result = await ledger.CheckAsync(direct, "SELECT tag, COUNT(*) FROM items GROUP BY tag");
        var duplicated = Assert.Single(result.Violations);
        Assert.Equal((LedgerViolationKind.Duplicated, "paid", 2L), (duplicated.Kind, duplicated.Write.Key, duplicated.Copies));
        Assert.Contains(duplicated.Faults, f => f.Contains(") ambiguous-commit on " + db.Name, StringComparison.Ordinal));
        Assert.Contains(duplicated.Faults, f => f.EndsWith(") restart on " + db.Server, StringComparison.Ordinal)); // its server's
        Assert.All(duplicated.Faults, f => Assert.True(f.EndsWith(" on " + db.Name, StringComparison.Ordinal) || f.EndsWith(" on " + db.Server, StringComparison.Ordinal), f)); // not those of tests beside it
        var password = new DbConnectionStringBuilder { ConnectionString = db.ConnectionString }["Password"].ToString();
        Assert.False(string.IsNullOrEmpty(password));
        Assert.DoesNotContain(password, result.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_write_left_without_an_outcome_after_an_ambiguous_commit_is_unresolved_and_classified_ones_resolve(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine);
        await using var db = await pool.LeaseAsync();
        var ledger = new WriteLedger();
        await using (await db.Faults.Network.AmbiguousCommitAsync())
        {
            Assert.Equal(WriteOutcome.Unknown, await ledger.TryRecordAsync("tried", async ct =>
            {
                await using var proxied = await db.Server.OpenConnectionAsync(db.Faults.Network.ConnectionString);
                await InsertAsync(proxied, "notes", "tried", ct);
            }));
        }

        foreach (var key in new[] { "classified", "forgotten" })
        {
            var write = ledger.Begin(key);
            await using (await db.Faults.Network.AmbiguousCommitAsync())
            {
                await using var proxied = await db.Server.OpenConnectionAsync(db.Faults.Network.ConnectionString);
                var lostReply = await Expect.ConnectionLostAsync(() => InsertAsync(proxied, "notes", key, default), "a COMMIT whose reply is lost");
                if (key == "classified")
                {
                    Assert.Equal(WriteOutcome.Unknown, write.Classify(lostReply));
                }
            }
        }

        await using var direct = await db.OpenConnectionAsync();
        Assert.Equal(3, await direct.CountAsync("notes WHERE tag IN ('tried', 'classified', 'forgotten')")); // every COMMIT applied

        var broken = await Assert.ThrowsAsync<WriteLedgerException>(() => ledger.VerifyAsync(direct, Notes));
        var unresolved = Assert.Single(broken.Result.Violations);
        Assert.Equal((LedgerViolationKind.Unresolved, "forgotten", WriteOutcome.Pending), (unresolved.Kind, unresolved.Write.Key, unresolved.Write.Outcome));
        Assert.Contains(unresolved.Faults, f => f.Contains("(before) ambiguous-commit on " + db.Name, StringComparison.Ordinal));
        Assert.Equal((2, 2, 0), (broken.Result.Unknown, broken.Result.UnknownApplied, broken.Result.UnknownNotApplied));
        Assert.Contains("Unresolved (1)", broken.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_write_recorded_failed_that_committed_is_reported_failed_but_applied(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine);
        await using var db = await pool.LeaseAsync();
        var ledger = new WriteLedger();
        await using var direct = await db.OpenConnectionAsync();
        await InsertAsync(direct, "notes", "shipped", default);
        var refused = await Expect.FailsAsync<DbException>(() => InsertAsync(direct, "notes", "shipped", default), "a second insert of the same key");
        Assert.True(DbErrors.IsIntegrityViolation(refused));
        // The code under test reports its first, committed write as failed (here: told by the second one's error).
        Assert.Equal(WriteOutcome.Failed, ledger.Begin("shipped").Classify(refused));
        ledger.Begin("refused").Failed(refused);

        var result = await ledger.CheckAsync(direct, Notes);
        var applied = Assert.Single(result.Violations);
        Assert.Equal((LedgerViolationKind.FailedButApplied, "shipped", 1L), (applied.Kind, applied.Write.Key, applied.Copies));
        Assert.StartsWith(refused.GetType().Name + ": ", applied.Write.Error, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Writers_that_retry_idempotently_under_resets_kills_and_ambiguous_commits_keep_the_ledger(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine);
        await using var db = await pool.LeaseAsync();
        var ledger = new WriteLedger();
        var writer = new IdempotentWriter(db);
        const int writers = 3, least = 10;
        using var faultsDone = new CancellationTokenSource();
        // Each writer goes on until every fault was injected and it wrote at least a few: the faults land mid-run.
        var writing = Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < least || !faultsDone.IsCancellationRequested; i++)
            {
                await writer.WriteAsync(ledger, $"w{w}-{i}");
            }
        })));

        // Faults paced by the writers' progress: an ambiguous COMMIT (held until a writer met it), a reset of every
        // proxied connection, a kill of every session of the database; twice each.
        try
        {
            for (var round = 0; round < 6; round++)
            {
                var begun = ledger.Writes.Count;
                await WhenAsync(() => ledger.Writes.Count >= begun + 5, writing);
                var retriesBefore = writer.Retries;
                switch (round % 3)
                {
                    case 0:
                        await using (await db.Faults.Network.AmbiguousCommitAsync())
                        {
                            await WhenAsync(() => writer.Retries > retriesBefore, writing);
                        }

                        break;
                    case 1:
                        await db.Faults.Network.ResetConnectionsAsync();
                        break;
                    default:
                        await db.Faults.KillAllSessionsAsync();
                        break;
                }
            }
        }
        finally
        {
            await faultsDone.CancelAsync();
        }

        await writing;
        Assert.True(writer.Retries >= 2, $"{writer.Retries} retries: the ambiguous commits reached the writers");
        await using var direct = await db.OpenConnectionAsync();
        var result = await ledger.VerifyAsync(direct, Notes);
        Assert.Equal((ledger.Writes.Count, ledger.Writes.Count, 0), (result.Writes, result.Acknowledged, result.Violations.Count));
        Assert.True(result.Writes >= writers * least, result.Summary);
    }

    /// <summary>Writes a note through the fault proxy, retrying transient errors on a new connection; a key refused
    /// as present on a retry was applied by an earlier attempt whose reply was lost: done.</summary>
    private sealed class IdempotentWriter(TestDatabase db)
    {
        private int _retries;

        public int Retries => Volatile.Read(ref _retries);

        public Task WriteAsync(WriteLedger ledger, string key) => ledger.RecordAsync(key, async ct =>
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await using var proxied = await db.Server.OpenConnectionAsync(db.Faults.Network.ConnectionString);
                    await InsertAsync(proxied, "notes", key, ct);
                    return;
                }
                catch (Exception e) when (attempt > 1 && DbErrors.IsIntegrityViolation(e))
                {
                    return;
                }
                catch (Exception e) when (attempt < 20 && DbErrors.IsTransient(e))
                {
                    Interlocked.Increment(ref _retries);
                }
            }
        });
    }

    private static async Task InsertAsync(DbConnection connection, string table, string tag, CancellationToken ct)
    {
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = $"INSERT INTO {table} (tag) VALUES ('{tag}')";
            await command.ExecuteNonQueryAsync(ct);
        }

        await transaction.CommitAsync(ct);
    }

    /// <summary>Polls until <paramref name="condition"/> holds; a writer that failed meanwhile fails the test with its error.</summary>
    private static async Task WhenAsync(Func<bool> condition, Task writing)
    {
        var patience = System.Diagnostics.Stopwatch.StartNew();
        while (!condition())
        {
            if (writing.IsFaulted)
            {
                await writing;
            }

            Assert.True(patience.Elapsed < TimeSpan.FromSeconds(60), "the writers made no progress in 60 s");
            await Task.Delay(10);
        }
    }

    private static async Task<DatabasePool> PoolAsync(DbEngine engine) =>
        await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = 1 });
}
