using System.Data.Common;
using TestDbKit.Diagnostics;
using TestDbKit.Tests.Databases;

namespace TestDbKit.Tests.Diagnostics;

/// <summary>
/// <see cref="Resilience.AssertRecoversAsync(Func{CancellationToken, Task}, TimeSpan, int, CancellationToken)"/>
/// says what the operation recovered from, so a test proves the fault reached the client; and it times a recovery
/// from the errors and faults of that operation only, never from a fault of a test running beside it.
/// </summary>
public sealed class RecoveryResultTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_kill_that_reaches_the_operation_shows_in_the_result_as_a_lost_connection(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine);
        await using var db = await pool.LeaseAsync();
        await using var doomed = await db.OpenConnectionAsync();
        await db.Faults.KillSessionAsync(doomed); // that it ended the session is proven below: the operation met it

        var result = await Resilience.AssertRecoversAsync(ct => UseThenReopenAsync(db, doomed, ct), TimeSpan.FromSeconds(10), minimumErrors: 1);

        Assert.True(result.HadSomethingToRecoverFrom);
        Assert.NotEmpty(result.Errors);
        Assert.All(result.Errors, e => Assert.Equal("connection lost", e.Classification));
        Assert.All(result.Errors, e => Assert.True(e.IsTransient, e.ToString()));
        Assert.Empty(result.Faults); // the kill came before the call, on the test's flow: it shows as the errors it caused
        Assert.NotNull(result.TimeToRecover);
        Assert.InRange(result.TimeToRecover.Value, TimeSpan.FromTicks(1), result.Elapsed);
        Assert.InRange(result.Errors[0].At, TimeSpan.Zero, result.Elapsed);
        Assert.StartsWith("Recovered in ", result.ToString(), StringComparison.Ordinal);
        Assert.Contains("connection lost", result.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_fault_injected_by_the_operation_itself_is_its_own_and_starts_its_time_to_recover(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine);
        await using var db = await pool.LeaseAsync();
        await using var doomed = await db.OpenConnectionAsync();
        using var scope = RunScope.Begin();
        var result = await Resilience.AssertRecoversAsync(
            async ct =>
            {
                await db.Faults.KillSessionAsync(doomed, ct);
                await UseThenReopenAsync(db, doomed, ct);
            },
            TimeSpan.FromSeconds(10),
            minimumErrors: 1);

        Assert.Equal($"kill-session on {db.Name}", Assert.Single(result.Faults));
        Assert.NotEmpty(result.Errors);

        // Timed from the fault, which came before the first error: so at least from the fault's end to now.
        Assert.NotNull(result.TimeToRecover);
        Assert.InRange(result.TimeToRecover.Value, result.Elapsed - result.Errors[0].At, result.Elapsed);
        Assert.Equal(result.TimeToRecover, Assert.Single(scope.Capture().RecoveryTimes));
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task An_operation_that_met_no_fault_recovered_from_nothing_and_the_requiring_form_says_so(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine);
        await using var db = await pool.LeaseAsync();
        using var scope = RunScope.Begin();

        var result = await Resilience.AssertRecoversAsync(ct => SelectOneAsync(db, ct), TimeSpan.FromSeconds(10));
        Assert.False(result.HadSomethingToRecoverFrom);
        Assert.Empty(result.Errors);
        Assert.Empty(result.Faults);
        Assert.Null(result.TimeToRecover);
        Assert.StartsWith("Nothing to recover from", result.ToString(), StringComparison.Ordinal);

        var e = await Assert.ThrowsAsync<ResilienceException>(() =>
            Resilience.AssertRecoversAsync(ct => SelectOneAsync(db, ct), TimeSpan.FromSeconds(10), minimumErrors: 1));
        Assert.Contains("it met 0 database error(s) where at least 1 were required", e.Message, StringComparison.Ordinal);
        Assert.Contains("the fault never reached it", e.Message, StringComparison.Ordinal);
        Assert.Null(e.InnerException);
        Assert.NotNull(e.Result);
        Assert.Empty(e.Result.Errors);

        // Neither is a recovery, nor a failed one.
        var mine = scope.Capture();
        Assert.Empty(mine.RecoveryTimes);
        Assert.Equal(0, mine.FailedRecoveries);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_fault_of_a_test_running_beside_it_is_not_the_operations_and_times_nothing(DbEngine engine)
    {
        await using var pool = await PoolAsync(engine, databases: 2);
        await using var db = await pool.LeaseAsync();
        await using var theirs = await pool.LeaseAsync();
        await using var theirConnection = await theirs.OpenConnectionAsync();
        using var scope = RunScope.Begin();
        var started = System.Diagnostics.Stopwatch.GetTimestamp();

        var result = await Resilience.AssertRecoversAsync(
            async ct =>
            {
                // Another test kills a session of its own database while this operation runs: its own flow, which
                // never saw this operation (the flow is not passed on).
                Task other;
                using (ExecutionContext.SuppressFlow())
                {
                    other = Task.Run(() => theirs.Faults.KillSessionAsync(theirConnection, CancellationToken.None), CancellationToken.None);
                }

                await other; // the other test's kill is done before this operation ends
                await SelectOneAsync(db, ct);
            },
            TimeSpan.FromSeconds(10));

        Assert.Contains(FaultLog.All, f => f.Target == theirs.Name && f.Timestamp >= started); // premise: it is in the process's log
        Assert.Empty(result.Faults);
        Assert.Empty(result.Errors);
        Assert.Null(result.TimeToRecover);
        var mine = scope.Capture();
        Assert.Empty(mine.FaultsByKind);
        Assert.Empty(mine.RecoveryTimes);

        // Premise, checked last so that this test's own error does not land in its scope: the kill was real.
        scope.Dispose();
        var killed = await Record.ExceptionAsync(() => theirConnection.ScalarAsync("SELECT 1"));
        Assert.NotNull(killed);
        Assert.True(DbErrors.IsConnectionLost(killed), killed.ToString());
    }

    [Fact]
    public async Task Bad_minimum_is_refused()
    {
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Resilience.AssertRecoversAsync(_ => Task.CompletedTask, TimeSpan.FromSeconds(1), minimumErrors: -1));
        var none = await Resilience.AssertRecoversAsync(_ => Task.CompletedTask, TimeSpan.FromSeconds(1), minimumErrors: 0);
        Assert.False(none.HadSomethingToRecoverFrom);
    }

    internal static async Task UseThenReopenAsync(TestDatabase db, DbConnection doomed, CancellationToken ct)
    {
        try
        {
            await doomed.ScalarAsync("SELECT 1");
            Assert.Fail("The killed session answered.");
        }
        catch (DbException e) when (DbErrors.IsConnectionLost(e))
        {
            await SelectOneAsync(db, ct);
        }
    }

    internal static async Task SelectOneAsync(TestDatabase db, CancellationToken ct)
    {
        await using var fresh = await db.OpenConnectionAsync(ct);
        await using var command = fresh.CreateCommand();
        command.CommandText = "SELECT 1";
        await command.ExecuteScalarAsync(ct);
    }

    internal static async Task<DatabasePool> PoolAsync(DbEngine engine, int databases = 1) =>
        await DatabasePool.CreateAsync(await DbServer.SharedAsync(engine), new DatabasePoolOptions { CreateSchema = Schemas.Small(engine), MaxDatabases = databases });
}
