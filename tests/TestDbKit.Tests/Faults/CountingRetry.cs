using Polly;
using Polly.Retry;

namespace TestDbKit.Tests.Faults;

/// <summary>
/// The resilient client's retry policy (Polly retrying on <see cref="DbErrors.IsTransient"/>), one per test,
/// that remembers every error it retried: a resilient-path test proves the fault reached the client (an
/// error was seen, retried and recovered from), not only that the client ended well.
/// </summary>
internal sealed class CountingRetry
{
    private readonly List<Exception> _retried = [];
    private readonly TaskCompletionSource _firstRetry = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public CountingRetry(int maxRetryAttempts = 12, TimeSpan? delay = null, TimeSpan? maxDelay = null, DelayBackoffType backoff = DelayBackoffType.Exponential)
    {
        Pipeline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(DbErrors.IsTransient),
                MaxRetryAttempts = maxRetryAttempts,
                Delay = delay ?? TimeSpan.FromMilliseconds(25),
                BackoffType = backoff,
                MaxDelay = maxDelay ?? TimeSpan.FromMilliseconds(500),
                OnRetry = args =>
                {
                    if (args.Outcome.Exception is { } e)
                    {
                        lock (_retried)
                        {
                            _retried.Add(e);
                        }

                        _firstRetry.TrySetResult();
                    }

                    return default;
                },
            })
            .Build();
    }

    public ResiliencePipeline Pipeline { get; }

    /// <summary>Completes when the first error has been retried: the fault has reached the client.</summary>
    public Task FirstRetry => _firstRetry.Task;

    /// <summary>The errors retried so far, oldest first.</summary>
    public IReadOnlyList<Exception> Retried
    {
        get
        {
            lock (_retried)
            {
                return [.. _retried];
            }
        }
    }

    /// <summary>Fails unless at least one retried error is of the expected kind (<paramref name="kind"/>
    /// names it in the failure).</summary>
    public void AssertRetried(Func<Exception, bool> expected, string kind)
    {
        var retried = Retried;
        Assert.True(retried.Any(expected),
            $"the fault never reached the client: expected at least one retried error that is {kind}; retried {retried.Count}: " +
            string.Join("; ", retried.Select(e => $"{e.GetType().Name}: {e.Message}")));
    }

    /// <summary>A lost connection, as after a kill, crash or network reset.</summary>
    public void AssertRetriedLostConnection() => AssertRetried(DbErrors.IsConnectionLost, "a lost connection");

    /// <summary>Any transient error (a lock timeout, a refused write, no free connection...).</summary>
    public void AssertRetriedTransient() => AssertRetried(DbErrors.IsTransient, "transient");
}
