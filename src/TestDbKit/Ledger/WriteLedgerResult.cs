using System.Globalization;
using System.Text;

namespace TestDbKit;

/// <summary>One write that breaks the ledger's promise, with the faults around it.</summary>
public sealed class LedgerViolation
{
    internal LedgerViolation(LedgerViolationKind kind, LedgerWrite write, long copies, IReadOnlyList<string> faults)
    {
        Kind = kind;
        Write = write;
        Copies = copies;
        Faults = faults;
    }

    /// <summary>How the write breaks the promise.</summary>
    public LedgerViolationKind Kind { get; }

    /// <summary>The write: key, outcome, when, and the error it met.</summary>
    public LedgerWrite Write { get; }

    /// <summary>How many copies of the write's key the database holds.</summary>
    public long Copies { get; }

    /// <summary>The kit's faults injected within <see cref="WriteLedger.FaultWindow"/> of the write, one line each:
    /// milliseconds from the write's start, before/during/after it, the fault, where.</summary>
    public IReadOnlyList<string> Faults { get; }

    /// <summary>What the kind means and what to look at, one sentence.</summary>
    internal static string Meaning(LedgerViolationKind kind) => kind switch
    {
        LedgerViolationKind.Lost => "acknowledged, not in the database: the client reported success for a write that did not commit, or something undid it",
        LedgerViolationKind.Duplicated => "in the database more than once: a retry repeated a write that had been applied (after an unknown outcome, retry only idempotently: a key the database refuses twice, or look before writing again)",
        LedgerViolationKind.FailedButApplied => "recorded as failed, yet in the database: the error came after the COMMIT reached the server; treat it as an unknown outcome, not a failure",
        _ => "begun, no outcome recorded: record one for every write (Acknowledged, Failed, Unknown or Classify on the LedgerWrite), or use WriteLedger.RecordAsync / TryRecordAsync",
    };

    /// <inheritdoc />
    public override string ToString()
    {
        var write = Write;
        var text = new StringBuilder().Append(CultureInfo.InvariantCulture, $"'{write.Key}' {write.Outcome.ToString().ToLowerInvariant()}, found {Copies} time(s); began {write.Began:HH:mm:ss.fff}");
        if (write.Ended is { } ended)
        {
            text.Append(CultureInfo.InvariantCulture, $", took {(ended - write.Began).TotalMilliseconds:0} ms");
        }

        if (write.Error is { } error)
        {
            text.Append(CultureInfo.InvariantCulture, $"; error: {error}");
        }

        text.Append(Faults.Count == 0 ? "; no fault of the kit around it" : "; faults around it: " + string.Join("; ", Faults.Take(10)));
        if (Faults.Count > 10)
        {
            text.Append(CultureInfo.InvariantCulture, $"; and {Faults.Count - 10} more");
        }

        return text.ToString();
    }
}

/// <summary>What <see cref="WriteLedger.CheckAsync"/> found: the writes by outcome, how the unknown ones resolved,
/// and every violation. <see cref="ToString"/> is the message <see cref="WriteLedgerException"/> carries.</summary>
public sealed class WriteLedgerResult
{
    private const int Shown = 20;

    internal WriteLedgerResult(IReadOnlyList<LedgerWrite> writes, IReadOnlyList<LedgerViolation> violations, int unknownApplied, int unknownNotApplied)
    {
        Writes = writes.Count;
        Acknowledged = writes.Count(w => w.Outcome == WriteOutcome.Acknowledged);
        Failed = writes.Count(w => w.Outcome == WriteOutcome.Failed);
        Unknown = writes.Count(w => w.Outcome == WriteOutcome.Unknown);
        Pending = writes.Count(w => w.Outcome == WriteOutcome.Pending);
        UnknownApplied = unknownApplied;
        UnknownNotApplied = unknownNotApplied;
        Violations = violations;
    }

    /// <summary>Writes begun.</summary>
    public int Writes { get; }

    /// <summary>Writes acknowledged.</summary>
    public int Acknowledged { get; }

    /// <summary>Writes recorded as failed.</summary>
    public int Failed { get; }

    /// <summary>Writes whose outcome was unknown.</summary>
    public int Unknown { get; }

    /// <summary>Writes with no outcome recorded (each is also an <see cref="LedgerViolationKind.Unresolved"/> violation).</summary>
    public int Pending { get; }

    /// <summary>Unknown writes found once in the database (they had been applied).</summary>
    public int UnknownApplied { get; }

    /// <summary>Unknown writes not in the database (they had not been applied).</summary>
    public int UnknownNotApplied { get; }

    /// <summary>Every write that breaks the promise, in the order they began.</summary>
    public IReadOnlyList<LedgerViolation> Violations { get; }

    /// <summary>True when no write breaks the promise.</summary>
    public bool IsConsistent => Violations.Count == 0;

    /// <summary>The violations of one kind.</summary>
    /// <param name="kind">The kind.</param>
    /// <returns>Those violations, in the order their writes began.</returns>
    public IReadOnlyList<LedgerViolation> Of(LedgerViolationKind kind) => [.. Violations.Where(v => v.Kind == kind)];

    /// <summary>The counts in one line, e.g. for a test's output.</summary>
    public string Summary => string.Create(CultureInfo.InvariantCulture,
        $"{Writes} write(s): {Acknowledged} acknowledged, {Failed} failed, {Unknown} unknown ({UnknownApplied} applied, {UnknownNotApplied} not applied), {Pending} without outcome; {Violations.Count} violation(s)");

    /// <inheritdoc />
    public override string ToString()
    {
        var text = new StringBuilder(IsConsistent ? "The write ledger holds: " : "The write ledger is broken: ").Append(Summary).Append('.');
        foreach (var group in Violations.GroupBy(v => v.Kind).OrderBy(g => g.Key))
        {
            text.Append(CultureInfo.InvariantCulture, $"\n{Name(group.Key)} ({group.Count()}): {LedgerViolation.Meaning(group.Key)}.");
            foreach (var violation in group.Take(Shown))
            {
                text.Append("\n  - ").Append(violation);
            }

            if (group.Count() > Shown)
            {
                text.Append(CultureInfo.InvariantCulture, $"\n  - and {group.Count() - Shown} more (WriteLedgerResult.Violations has them all)");
            }
        }

        return text.ToString();
    }

    private static string Name(LedgerViolationKind kind) => kind switch
    {
        LedgerViolationKind.Lost => "Lost",
        LedgerViolationKind.Duplicated => "Duplicated",
        LedgerViolationKind.FailedButApplied => "Failed but applied",
        _ => "Unresolved",
    };
}

/// <summary>A <see cref="WriteLedger"/> check found writes lost, duplicated, applied though failed, or unresolved.</summary>
public sealed class WriteLedgerException : Exception
{
    /// <summary>Creates the exception for a broken <paramref name="result"/>.</summary>
    /// <param name="result">What the check found.</param>
    public WriteLedgerException(WriteLedgerResult result)
        : base((result ?? throw new ArgumentNullException(nameof(result))).ToString()) => Result = result;

    /// <summary>What the check found.</summary>
    public WriteLedgerResult Result { get; }
}
