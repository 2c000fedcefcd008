namespace TestDbKit;

/// <summary>What the code under test learned about one write (<see cref="WriteLedger"/>).</summary>
public enum WriteOutcome
{
    /// <summary>Begun, and no outcome recorded yet: at a check this is a violation (<see cref="LedgerViolationKind.Unresolved"/>).</summary>
    Pending,

    /// <summary>The database confirmed the write (the COMMIT returned): it must be present exactly once.</summary>
    Acknowledged,

    /// <summary>The write surely did not happen (refused, rolled back before COMMIT): it must be absent.</summary>
    Failed,

    /// <summary>The client cannot know (the connection was lost or the command timed out, perhaps during or after
    /// COMMIT): present once or absent are both fine; present twice is not.</summary>
    Unknown,
}

/// <summary>How a write breaks the ledger's promise, found by <see cref="WriteLedger.CheckAsync"/>.</summary>
public enum LedgerViolationKind
{
    /// <summary>Acknowledged, but not in the database.</summary>
    Lost,

    /// <summary>In the database more than once (a retry repeated a write that had been applied).</summary>
    Duplicated,

    /// <summary>Recorded as failed, but in the database: the client called a commit that happened a failure.</summary>
    FailedButApplied,

    /// <summary>Begun, and no outcome was ever recorded.</summary>
    Unresolved,
}
