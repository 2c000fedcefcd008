using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using System.Text;
using TestDbKit.Diagnostics;
using TestDbKit.Engines;

namespace TestDbKit;

/// <summary>Proves that code under test recovers from injected faults.</summary>
public static class Resilience
{
    private static readonly AsyncLocal<Recorder?> Current = new();

    static Resilience() => AppDomain.CurrentDomain.FirstChanceException += OnFirstChance;

    /// <summary>
    /// Runs <paramref name="operation"/> (the code under test, with its own retry policy) and fails with a
    /// readable timeline when it does not succeed within <paramref name="within"/>: the faults injected
    /// meanwhile, the database errors the operation met and how <see cref="DbErrors"/> classifies them,
    /// and how long recovery took. It passes too when the operation met no error at all; to prove that a fault
    /// reached it, look at the result (<see cref="RecoveryResult.Errors"/>) or use the overload that takes
    /// <c>minimumErrors</c>.
    /// </summary>
    /// <param name="operation">The code under test; it receives a token that fires when the budget is spent.</param>
    /// <param name="within">The time budget for the operation, retries included.</param>
    /// <param name="ct">Cancels the whole assertion.</param>
    /// <returns>What the operation recovered from: the errors it met, the faults injected on its own flow, and
    /// the time to recover.</returns>
    /// <exception cref="ResilienceException">The operation failed or ran out of time; the message is the timeline.</exception>
    public static Task<RecoveryResult> AssertRecoversAsync(Func<CancellationToken, Task> operation, TimeSpan within, CancellationToken ct = default) =>
        AssertRecoversAsync(operation, within, minimumErrors: 0, ct);

    /// <summary>
    /// Like <see cref="AssertRecoversAsync(Func{CancellationToken, Task}, TimeSpan, CancellationToken)"/>, and
    /// also fails when the operation met fewer than <paramref name="minimumErrors"/> database errors: a test of
    /// the resilient path proves the fault reached the client, not only that the client ended well.
    /// </summary>
    /// <param name="operation">The code under test; it receives a token that fires when the budget is spent.</param>
    /// <param name="within">The time budget for the operation, retries included.</param>
    /// <param name="minimumErrors">How many database errors (distinct exceptions thrown on the operation's
    /// flow: <see cref="System.Data.Common.DbException"/>, socket, end-of-stream, timeout) the operation must
    /// have met and recovered from; 1 proves the fault reached it.</param>
    /// <param name="ct">Cancels the whole assertion.</param>
    /// <returns>What the operation recovered from.</returns>
    /// <exception cref="ResilienceException">The operation failed, ran out of time, or met fewer errors than
    /// required; the message says which, with the timeline. <see cref="ResilienceException.Result"/> holds what
    /// was seen.</exception>
    public static async Task<RecoveryResult> AssertRecoversAsync(Func<CancellationToken, Task> operation, TimeSpan within, int minimumErrors, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(operation);
        if (within <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(within), within, "The budget must be longer than zero.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(minimumErrors);
        var recorder = new Recorder();
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(ct);
        budget.CancelAfter(within);
        var previous = Current.Value;
        Current.Value = recorder;
        Exception? failure = null;
        try
        {
            await operation(budget.Token).WaitAsync(budget.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            failure = e;
        }
        finally
        {
            Current.Value = previous;
            recorder.Scope.Dispose();
        }

        var elapsed = Stopwatch.GetElapsedTime(recorder.Started);
        var recovered = failure is null && elapsed <= within;
        var result = recorder.Report(recovered, elapsed);
        if (!recovered)
        {
            throw new ResilienceException(recorder.Describe(within, elapsed, failure), failure) { Result = result };
        }

        if (result.Errors.Count < minimumErrors)
        {
            throw new ResilienceException(Recorder.DescribeTooFewErrors(minimumErrors, result), null) { Result = result };
        }

        return result;
    }

    private static void OnFirstChance(object? sender, FirstChanceExceptionEventArgs e)
    {
        if (Current.Value is { } recorder && e.Exception is DbException or SocketException or EndOfStreamException or TimeoutException)
        {
            recorder.Seen(e.Exception);
        }
    }

    /// <summary>What one assertion saw, in order.</summary>
    private sealed class Recorder
    {
        private readonly List<(long At, Exception Error)> _errors = [];

        public long Started { get; } = Stopwatch.GetTimestamp();

        /// <summary>What happens on the operation's own flow: the faults it (or a schedule it started) injected.
        /// Faults of tests running beside it are on their own flows and never land here.</summary>
        public RunScope Scope { get; } = RunScope.Begin();

        public void Seen(Exception error)
        {
            lock (_errors)
            {
                // A driver wraps and rethrows the same failure several times: keep the first of each.
                if (_errors.Count > 0 && (ReferenceEquals(_errors[^1].Error, error) || _errors[^1].Error.Message == error.Message))
                {
                    return;
                }

                if (_errors.Count < 200)
                {
                    _errors.Add((Stopwatch.GetTimestamp(), error));
                }
            }

            RunLog.ClientError(error);
        }

        /// <summary>What the operation recovered from, also told to the run report: the time to recover runs from
        /// the first error the operation met, or the first fault injected on its own flow, to its end. An
        /// operation that met neither had nothing to recover from, and is no recovery.</summary>
        public RecoveryResult Report(bool recovered, TimeSpan elapsed)
        {
            var now = Stopwatch.GetTimestamp();
            List<(long At, Exception Error)> errors;
            lock (_errors)
            {
                errors = [.. _errors];
            }

            var faults = Scope.Book.Faults;
            long? firstError = errors.Count > 0 ? errors[0].At : null;
            long? firstFault = faults.Count > 0 ? faults.Min(f => f.Timestamp) : null;
            var seen = errors.Select(e => new SeenError(e.Error, Stopwatch.GetElapsedTime(Started, e.At), RunLog.Classification(e.Error), IsTransient(e.Error))).ToList();
            var faultsSeen = faults.Select(f => $"{f.Fault} on {f.Target}").ToList();
            if ((firstError, firstFault) is (null, null))
            {
                if (!recovered)
                {
                    RunLog.Recovery(elapsed, recovered: false, "Resilience.AssertRecoversAsync");
                }

                return new RecoveryResult(recovered, seen, faultsSeen, elapsed, timeToRecover: null);
            }

            var from = Math.Min(firstError ?? long.MaxValue, firstFault ?? long.MaxValue);
            var timeToRecover = Stopwatch.GetElapsedTime(from, now);
            RunLog.Recovery(timeToRecover, recovered, "Resilience.AssertRecoversAsync");
            return new RecoveryResult(recovered, seen, faultsSeen, elapsed, timeToRecover);
        }

        public static string DescribeTooFewErrors(int minimumErrors, RecoveryResult result)
        {
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"The operation succeeded in {result.Elapsed.TotalMilliseconds:0} ms, but it met {result.Errors.Count} database error(s) where at least {minimumErrors} were required: ");
            text.Append(result.Errors.Count == 0 ? "the fault never reached it, so its recovery was not tested. " : "fewer faults reached it than the test expects. ");
            text.Append(result.Faults.Count == 0
                ? "No fault was injected on its own flow. "
                : $"Faults injected on its own flow: {string.Join("; ", result.Faults)}. ");
            text.Append("Check that the fault targets the database and connection the operation uses, and that it is injected before the operation's first use of them (a kill of an idle pooled session is met only when that session is used again).");
            return text.ToString();
        }

        public string Describe(TimeSpan within, TimeSpan elapsed, Exception? failure)
        {
            var now = Stopwatch.GetTimestamp();
            var text = new StringBuilder();
            text.Append(CultureInfo.InvariantCulture, $"The operation did not recover within {within.TotalMilliseconds:0} ms ");
            text.Append(failure is null
                ? string.Create(CultureInfo.InvariantCulture, $"(it succeeded, but after {elapsed.TotalMilliseconds:0} ms).")
                : string.Create(CultureInfo.InvariantCulture, $"(it failed after {elapsed.TotalMilliseconds:0} ms with {failure.GetType().Name}: {failure.Message})."));
            text.AppendLine();
            text.AppendLine("Timeline (ms from the start; faults from up to 10 s before it count, as they set the stage):");
            var rows = new List<(long At, string Line)>();
            var own = Scope.Book.Faults.ToHashSet();
            foreach (var fault in own)
            {
                rows.Add((fault.Timestamp, $"fault   {fault.Fault} on {fault.Target}"));
            }

            // Faults injected elsewhere in the process (before the operation, by the test, or by a test running beside
            // it): shown, but marked, since this operation may never have met them.
            foreach (var fault in FaultLog.Between(Started - (10 * Stopwatch.Frequency), now).Where(f => !own.Contains(f)))
            {
                rows.Add((fault.Timestamp, $"fault   {fault.Fault} on {fault.Target} (elsewhere*)"));
            }

            lock (_errors)
            {
                foreach (var (at, error) in _errors)
                {
                    rows.Add((at, $"error   {error.GetType().Name}: {Shorten(error.Message)} [{Classify(error)}]"));
                }
            }

            foreach (var (at, line) in rows.OrderBy(r => r.At))
            {
                var ms = (at - Started) * 1000.0 / Stopwatch.Frequency;
                text.AppendLine(CultureInfo.InvariantCulture, $"  {ms,8:0.0}  {line}");
            }

            if (rows.Count == 0)
            {
                text.AppendLine("  (no fault injected and no database error seen)");
            }

            if (rows.Count > 0 && rows.Count > own.Count + _errors.Count)
            {
                text.AppendLine("  (* injected in this process but not on this operation's own flow: by the test before it, or by a test running beside it)");
            }

            text.Append(CultureInfo.InvariantCulture, $"Errors seen: {_errors.Count}. ");
            text.Append(failure is not null && !DbErrors.IsTransient(failure)
                ? "The final error is not transient: retrying would not help; fix the operation or the fault."
                : "A retry policy on DbErrors.IsTransient with enough attempts and backoff inside the budget would recover.");
            return text.ToString();
        }

        private static string Classify(Exception e)
        {
            var kinds = new List<string>();
            if (DbErrors.IsConnectionLost(e))
            {
                kinds.Add("connection lost");
            }

            if (DbErrors.IsTransactionAborted(e))
            {
                kinds.Add("transaction aborted");
            }

            if (DbErrors.IsIntegrityViolation(e))
            {
                kinds.Add("integrity violation");
            }

            kinds.Add(DbErrors.IsTransient(e) ? "transient" : "not transient");
            return string.Join(", ", kinds);
        }

        /// <summary>As <see cref="DbErrors.IsTransient"/>, without counting the error again.</summary>
        private static bool IsTransient(Exception e)
        {
            var kind = DbErrors.Classify(e);
            return (kind & ErrorKind.Transient) != 0 && (kind & ErrorKind.IntegrityViolation) == 0;
        }

        private static string Shorten(string message) => message.Length <= 160 ? message : message[..157] + "...";
    }
}

/// <summary>Code under test did not recover from injected faults; the message is the timeline.</summary>
public sealed class ResilienceException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ResilienceException(string message, Exception? inner)
        : base(message, inner)
    {
    }

    /// <summary>What the operation met before the assertion failed, when <see cref="Resilience"/> threw it.</summary>
    public RecoveryResult? Result { get; internal init; }
}

/// <summary>
/// What an operation under <see cref="Resilience.AssertRecoversAsync(Func{CancellationToken, Task}, TimeSpan, CancellationToken)"/>
/// met and recovered from: the database errors thrown on its flow, the faults injected on its own flow while it
/// ran, and how long recovery took. Faults and errors of tests running beside it are not in it.
/// </summary>
public sealed class RecoveryResult
{
    internal RecoveryResult(bool recovered, IReadOnlyList<SeenError> errors, IReadOnlyList<string> faults, TimeSpan elapsed, TimeSpan? timeToRecover)
    {
        Recovered = recovered;
        Errors = errors;
        Faults = faults;
        Elapsed = elapsed;
        TimeToRecover = timeToRecover;
    }

    /// <summary>Whether the operation succeeded within its budget: always on a result the assertion returned, and
    /// on <see cref="ResilienceException.Result"/> when it failed only for meeting too few errors; false there when
    /// the operation failed or ran out of time.</summary>
    public bool Recovered { get; }

    /// <summary>The database errors the operation met, in order (distinct exceptions of the driver or the
    /// transport thrown on its flow; a rethrow or a wrapper with the same message counts once). Empty when
    /// no fault reached it.</summary>
    public IReadOnlyList<SeenError> Errors { get; }

    /// <summary>Faults injected on the operation's own flow while it ran (by the operation itself, or a chaos
    /// schedule it started), as "fault on target". A fault injected before the call shows as the errors it caused.</summary>
    public IReadOnlyList<string> Faults { get; }

    /// <summary>How long the operation took, retries included.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>From the first error the operation met, or the first fault injected on its flow, to its success
    /// (or, when it did not recover, to its end); null when it had nothing to recover from. The run report's recovery figures are these times.</summary>
    public TimeSpan? TimeToRecover { get; }

    /// <summary>Whether the operation met an error or a fault at all; false means its recovery was not tested.</summary>
    public bool HadSomethingToRecoverFrom => Errors.Count > 0 || Faults.Count > 0;

    /// <summary>One line: what was recovered from and how fast, or that there was nothing to recover from.</summary>
    public override string ToString()
    {
        var inv = CultureInfo.InvariantCulture;
        var errors = Errors.Count == 0 ? "no error" : string.Join(", ", Errors.GroupBy(e => e.Classification).Select(g => string.Create(inv, $"{g.Count()} {g.Key}")));
        var faults = Faults.Count == 0 ? "" : string.Create(inv, $" and {Faults.Count} fault(s) injected on its flow");
        if (!Recovered)
        {
            return string.Create(inv, $"Did not recover: the operation ended after {Elapsed.TotalMilliseconds:0} ms, having met {Errors.Count} error(s) ({errors}){faults}.");
        }

        return HadSomethingToRecoverFrom
            ? string.Create(inv, $"Recovered in {TimeToRecover!.Value.TotalMilliseconds:0} ms from {Errors.Count} error(s) ({errors}){faults}.")
            : string.Create(inv, $"Nothing to recover from: the operation met no database error and no fault was injected on its flow ({Elapsed.TotalMilliseconds:0} ms).");
    }
}

/// <summary>A database error an operation under <see cref="Resilience"/> met.</summary>
public sealed class SeenError
{
    internal SeenError(Exception error, TimeSpan at, string classification, bool isTransient)
    {
        Error = error;
        At = at;
        Classification = classification;
        IsTransient = isTransient;
    }

    /// <summary>The exception as thrown.</summary>
    public Exception Error { get; }

    /// <summary>When it was thrown, from the start of the operation.</summary>
    public TimeSpan At { get; }

    /// <summary>How the run report classifies it: "connection lost", "transaction aborted", "integrity
    /// violation", "other transient" or "not transient" (the most telling one, as <see cref="DbErrors"/> decides).</summary>
    public string Classification { get; }

    /// <summary>What <see cref="DbErrors.IsTransient"/> answers for it.</summary>
    public bool IsTransient { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{Classification}: {Error.GetType().Name}: {Error.Message}";
}
