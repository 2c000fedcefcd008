using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Runtime.ExceptionServices;
using System.Text;
using TestDbKit.Diagnostics;

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
    /// and how long recovery took.
    /// </summary>
    /// <param name="operation">The code under test; it receives a token that fires when the budget is spent.</param>
    /// <param name="within">The time budget for the operation, retries included.</param>
    /// <param name="ct">Cancels the whole assertion.</param>
    /// <exception cref="ResilienceException">The operation failed or ran out of time; the message is the timeline.</exception>
    public static async Task AssertRecoversAsync(Func<CancellationToken, Task> operation, TimeSpan within, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(operation);
        if (within <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(within), within, "The budget must be longer than zero.");
        }

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
        }

        var elapsed = Stopwatch.GetElapsedTime(recorder.Started);
        var recovered = failure is null && elapsed <= within;
        recorder.Report(recovered);
        if (recovered)
        {
            return;
        }

        var timeline = recorder.Describe(within, elapsed, failure);
        throw new ResilienceException(timeline, failure);
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

        public void Seen(Exception error)
        {
            lock (_errors)
            {
                // A driver wraps and rethrows the same failure several times: keep the first of each.
                if (_errors.Count > 0 && _errors[^1].Error.Message == error.Message)
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

        /// <summary>Tells the run report how long recovery took: from the first error, or the first fault
        /// injected during the operation, to its end. An operation that met neither had nothing to recover from.</summary>
        public void Report(bool recovered)
        {
            var now = Stopwatch.GetTimestamp();
            long? firstError;
            lock (_errors)
            {
                firstError = _errors.Count > 0 ? _errors[0].At : null;
            }

            var firstFault = FaultLog.Between(Started, now).Select(f => (long?)f.Timestamp).FirstOrDefault();
            if ((firstError, firstFault) is (null, null) && recovered)
            {
                return;
            }

            var from = Math.Min(firstError ?? long.MaxValue, firstFault ?? long.MaxValue);
            if (from == long.MaxValue)
            {
                from = Started;
            }

            RunLog.Recovery(Stopwatch.GetElapsedTime(from, now), recovered, "Resilience.AssertRecoversAsync");
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
            foreach (var fault in FaultLog.Between(Started - (10 * Stopwatch.Frequency), now))
            {
                rows.Add((fault.Timestamp, $"fault   {fault.Fault} on {fault.Target}"));
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
}
