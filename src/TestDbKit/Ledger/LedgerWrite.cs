using System.Diagnostics;
using TestDbKit.Engines;

namespace TestDbKit;

/// <summary>
/// One write in a <see cref="WriteLedger"/>: begun by <see cref="WriteLedger.Begin"/>, then given exactly one
/// outcome by <see cref="Acknowledged"/>, <see cref="Failed"/>, <see cref="Unknown"/> or <see cref="Classify"/>.
/// Safe to complete from any thread.
/// </summary>
public sealed class LedgerWrite
{
    private readonly Lock _gate = new();
    private int _outcome; // a WriteOutcome; moves once from Pending
    private long _endedTimestamp;
    private DateTimeOffset? _ended;
    private string? _error;

    internal LedgerWrite(string key)
    {
        Key = key;
        BeganTimestamp = Stopwatch.GetTimestamp();
        Began = DateTimeOffset.UtcNow;
    }

    /// <summary>The key the write stores (the value the check's query returns for it).</summary>
    public string Key { get; }

    /// <summary>The outcome recorded so far.</summary>
    public WriteOutcome Outcome => (WriteOutcome)Volatile.Read(ref _outcome);

    /// <summary>When the write began (UTC).</summary>
    public DateTimeOffset Began { get; }

    /// <summary>When its outcome was recorded (UTC), or null while pending.</summary>
    public DateTimeOffset? Ended => Outcome == WriteOutcome.Pending ? null : _ended;

    /// <summary>The error the outcome was recorded with, as type and message (no password), if any.</summary>
    public string? Error => Outcome == WriteOutcome.Pending ? null : _error;

    internal long BeganTimestamp { get; }

    internal long EndedTimestamp => Volatile.Read(ref _endedTimestamp);

    /// <summary>Records that the database confirmed the write (its COMMIT returned).</summary>
    /// <exception cref="InvalidOperationException">An outcome was recorded already.</exception>
    public void Acknowledged() => Complete(WriteOutcome.Acknowledged, null);

    /// <summary>Records that the write surely did not happen (refused, or rolled back before its COMMIT).</summary>
    /// <param name="error">What the client met, if anything; shown when the check finds the write applied.</param>
    /// <exception cref="InvalidOperationException">An outcome was recorded already.</exception>
    public void Failed(Exception? error = null) => Complete(WriteOutcome.Failed, error);

    /// <summary>Records that the client cannot know whether the write happened (the connection was lost or the
    /// command timed out, perhaps during or after its COMMIT).</summary>
    /// <param name="error">What the client met, if anything.</param>
    /// <exception cref="InvalidOperationException">An outcome was recorded already.</exception>
    public void Unknown(Exception? error = null) => Complete(WriteOutcome.Unknown, error);

    /// <summary>
    /// Records the outcome <paramref name="error"/> implies, by <see cref="DbErrors"/>: <see cref="WriteOutcome.Failed"/>
    /// when the database surely refused the write (an integrity violation, a transaction the server rolled back, a
    /// database error that is not transient such as a syntax error), else <see cref="WriteOutcome.Unknown"/> (a lost
    /// connection, a timeout, a cancellation, any other transient error, or an exception that is no database error at
    /// all: the COMMIT may have reached the server).
    /// </summary>
    /// <param name="error">The exception the write threw.</param>
    /// <returns>The outcome recorded.</returns>
    /// <exception cref="InvalidOperationException">An outcome was recorded already.</exception>
    public WriteOutcome Classify(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var outcome = OutcomeOf(error);
        Complete(outcome, error);
        return outcome;
    }

    /// <summary>When in doubt, unknown: an unknown outcome fails a check only if the write is found twice, while a
    /// wrong "failed" would report a committed write as a violation.</summary>
    internal static WriteOutcome OutcomeOf(Exception error)
    {
        var kind = DbErrors.Classify(error);
        if (IsDatabaseError(error, kind))
        {
            Diagnostics.RunLog.ClientError(error); // an error the client met: the run report counts it
        }

        if ((kind & ErrorKind.ConnectionLost) != 0 || IsTimeoutOrCancellation(error))
        {
            return WriteOutcome.Unknown;
        }

        if ((kind & (ErrorKind.IntegrityViolation | ErrorKind.TransactionAborted)) != 0)
        {
            return WriteOutcome.Failed;
        }

        // A database error that is not worth a retry is the server's refusal; anything else might follow a COMMIT.
        return kind == ErrorKind.None && error is System.Data.Common.DbException ? WriteOutcome.Failed : WriteOutcome.Unknown;
    }

    /// <summary>What the driver or the server raised (not a bug of the write, nor a cancellation).</summary>
    internal static bool IsDatabaseError(Exception error, ErrorKind kind) =>
        kind != ErrorKind.None || error is System.Data.Common.DbException || error is TimeoutException;

    private static bool IsTimeoutOrCancellation(Exception error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is TimeoutException or OperationCanceledException)
            {
                return true;
            }
        }

        return false;
    }

    private void Complete(WriteOutcome outcome, Exception? error)
    {
        lock (_gate)
        {
            if (Outcome != WriteOutcome.Pending)
            {
                throw new InvalidOperationException(
                    $"The write '{Key}' already has the outcome {Outcome}; it cannot become {outcome}. Record one outcome per write; give a retried write a new key only if it stores a new row.");
            }

            _error = error is null ? null : $"{error.GetType().Name}: {FirstLine(error.Message)}";
            _ended = DateTimeOffset.UtcNow;
            Volatile.Write(ref _endedTimestamp, Stopwatch.GetTimestamp());
            Volatile.Write(ref _outcome, (int)outcome);
        }
    }

    private static string FirstLine(string message) => Diagnostics.RunLog.Shorten(message.Split('\n')[0].Trim());

    /// <inheritdoc />
    public override string ToString() => $"'{Key}' {Outcome}";
}
