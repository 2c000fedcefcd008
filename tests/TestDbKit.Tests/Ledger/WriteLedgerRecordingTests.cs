namespace TestDbKit.Tests.Ledger;

/// <summary>How the ledger records what a write did, before any database is read: what it rethrows, and the misuse it
/// refuses (a key begun twice, a second outcome).</summary>
public sealed class WriteLedgerRecordingTests
{
    [Fact]
    public async Task A_bug_in_the_write_is_rethrown_by_both_forms_and_recorded_as_unknown()
    {
        var ledger = new WriteLedger();
        var bug = new InvalidOperationException("a bug in the code under test");
        Assert.Same(bug, await Assert.ThrowsAsync<InvalidOperationException>(() => ledger.TryRecordAsync("tried", _ => throw bug)));
        Assert.Same(bug, await Assert.ThrowsAsync<InvalidOperationException>(() => ledger.RecordAsync("recorded", _ => throw bug)));
        Assert.All(ledger.Writes, w => Assert.Equal(WriteOutcome.Unknown, w.Outcome));
        Assert.All(ledger.Writes, w => Assert.Equal("InvalidOperationException: a bug in the code under test", w.Error));
    }

    [Fact]
    public async Task A_write_that_returns_is_acknowledged_and_a_cancelled_one_is_unknown_and_rethrown()
    {
        var ledger = new WriteLedger();
        Assert.Equal(WriteOutcome.Acknowledged, await ledger.TryRecordAsync("done", _ => Task.CompletedTask));
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ledger.TryRecordAsync("cancelled", ct => Task.FromCanceled(ct), cancelled.Token));
        Assert.Equal([WriteOutcome.Acknowledged, WriteOutcome.Unknown], ledger.Writes.Select(w => w.Outcome));
    }

    [Fact]
    public void A_key_is_begun_once_and_a_write_gets_one_outcome()
    {
        var ledger = new WriteLedger();
        var write = ledger.Begin("k");
        Assert.Contains("begun already", Assert.Throws<ArgumentException>(() => ledger.Begin("k")).Message, StringComparison.Ordinal);
        write.Acknowledged();
        Assert.Contains("already has the outcome Acknowledged", Assert.Throws<InvalidOperationException>(() => write.Failed()).Message, StringComparison.Ordinal);
        Assert.Equal(WriteOutcome.Acknowledged, write.Outcome);
    }
}
