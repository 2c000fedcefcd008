using System.Globalization;
using TestDbKit.Engines;

namespace TestDbKit.Faults;

/// <summary>What the kinds that end sessions of a database share: which sessions, and the wait for the server's
/// list of transactions where telling idle from busy reads it.</summary>
internal abstract class SessionKill : FaultKind
{
    public sealed override FaultScope Scope => FaultScope.Database;

    public sealed override bool Lasting => false;

    public sealed override FaultTargets Targets => FaultTargets.Database | FaultTargets.Server;

    protected abstract SessionFilter Filter { get; }

    /// <summary>As a verb phrase, for refusals.</summary>
    protected abstract string Doing { get; }

    public override async Task<FaultOutcome> InjectAsync(IFaultTarget target, FaultArgs args, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(target);
        target.Consent(Doing);
        Record(target);
        if (Filter != SessionFilter.All && target.Dialect.TransactionListStaleness > TimeSpan.Zero)
        {
            // Telling idle from busy reads the server's list of transactions; wait until it shows those begun
            // before this call.
            await Task.Delay(target.Dialect.TransactionListStaleness, ct).ConfigureAwait(false);
        }

        var ended = await target.EndSessionsAsync(Filter, ct).ConfigureAwait(false);
        return new FaultOutcome(null, ended, string.Create(CultureInfo.InvariantCulture, $"{ended} session(s) ended"));
    }
}
