using System.Diagnostics;
using TestDbKit.Diagnostics;

namespace TestDbKit.Faults;

/// <summary>How far a fault reaches.</summary>
internal enum FaultScope
{
    /// <summary>One session (a connection the test holds).</summary>
    Connection,

    /// <summary>The sessions or settings of a database: the test's own, or every <c>tdk_</c> database of the server.</summary>
    Database,

    /// <summary>The whole server: only a server the kit started and no other test shares.</summary>
    Server,
}

/// <summary>Which targets can drive a fault kind through the generic path (no arguments beyond a hold).</summary>
[Flags]
internal enum FaultTargets
{
    /// <summary>Only through its own method (it needs a connection, a table, ...).</summary>
    None = 0,

    /// <summary>A leased test database (<see cref="FaultInjector"/>, <see cref="ChaosSchedule"/>).</summary>
    Database = 1,

    /// <summary>A whole server (<c>testdbkit chaos</c>, the owner socket of <c>testdbkit serve</c>).</summary>
    Server = 2,
}

/// <summary>What one injection did: the handle that undoes a lasting fault (null when instant, or when it was
/// already undone, as a freeze the owner of the server held and thawed), a count where the fault counts something,
/// and a line for the CLI.</summary>
internal sealed record FaultOutcome(IAsyncDisposable? Undo, int? Count = null, string? Detail = null);

/// <summary>
/// One kind of fault, declared once: its name (the one spelling the API's log, the schedule, <c>testdbkit
/// chaos</c>, the owner socket and the run report use), its scope, whether it lasts, which targets can drive it,
/// how it is injected and how it is undone (the handle its injection returns). The catalogue
/// (<see cref="FaultCatalogue"/>) finds every concrete subclass of this assembly: adding a kind is one file in
/// <c>Faults/Catalogue/Kinds/</c>.
/// </summary>
internal abstract class FaultKind
{
    /// <summary>The one spelling: lower case, words joined by '-'. Also the word on the owner socket.</summary>
    public abstract string Name { get; }

    /// <summary>One line for the CLI's help and the docs.</summary>
    public abstract string Summary { get; }

    public abstract FaultScope Scope { get; }

    /// <summary>True when the fault stays until undone (a lock, a timeout, a freeze); false when it is over once
    /// injected (a kill, a crash).</summary>
    public abstract bool Lasting { get; }

    /// <summary>Which targets can inject it with <see cref="InjectAsync(IFaultTarget, FaultArgs, CancellationToken)"/>.</summary>
    public virtual FaultTargets Targets => FaultTargets.None;

    /// <summary>The public <see cref="ChaosFault"/> value a <see cref="ChaosSchedule"/> names it by, if any.</summary>
    public virtual ChaosFault? Chaos => null;

    /// <summary>Injects the fault through the generic path (schedules, the CLI, the owner socket).</summary>
    public virtual Task<FaultOutcome> InjectAsync(IFaultTarget target, FaultArgs args, CancellationToken ct) =>
        throw new NotSupportedException($"The '{Name}' fault needs arguments of its own (a connection, a table, a value): inject it through its FaultInjector method.");

    /// <summary>Injects the fault, holds a lasting one for what remains of <paramref name="hold"/> after the
    /// injection began, and undoes it (also when <paramref name="ct"/> fires during the hold, unless
    /// <paramref name="holdThroughStop"/>: then the hold runs out first).</summary>
    public async Task<FaultOutcome> RunAsync(IFaultTarget target, TimeSpan hold, CancellationToken ct, bool holdThroughStop = false)
    {
        var began = Stopwatch.GetTimestamp();
        ArgumentNullException.ThrowIfNull(target);
        var outcome = await target.InjectAsync(this, new FaultArgs(hold), ct).ConfigureAwait(false);
        if (outcome.Undo is { } undo)
        {
            try
            {
                var left = hold - Stopwatch.GetElapsedTime(began);
                if (left > TimeSpan.Zero)
                {
                    await Task.Delay(left, holdThroughStop ? CancellationToken.None : ct).ConfigureAwait(false);
                }
            }
            finally
            {
                await undo.DisposeAsync().ConfigureAwait(false); // undone even when the run stops mid-fault
            }
        }

        return outcome;
    }

    /// <summary>Records this fault in the run's log under <see cref="Name"/>.</summary>
    protected void Record(IFaultTarget target, string? detail = null) => FaultLog.Record(this, target.Where(Scope), detail, target.Dialect.Engine, target.Endpoint);

    /// <inheritdoc />
    public override string ToString() => Name;
}

/// <summary>What the generic path passes a fault: how long a lasting one is held, and the value of a timeout
/// fault (its kind's default when null).</summary>
internal sealed record FaultArgs(TimeSpan Hold)
{
    public TimeSpan? Timeout { get; init; }
}
