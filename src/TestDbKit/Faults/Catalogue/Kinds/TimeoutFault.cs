using System.Globalization;
using TestDbKit.Engines;

namespace TestDbKit.Faults;

/// <summary>What the timeout kinds share: the server closes sessions (or cancels statements) of the database(s)
/// after a short time, for sessions opened after the change, until the handle restores the old value.</summary>
internal abstract class TimeoutFault : FaultKind
{
    /// <summary>The timeout the generic path sets: short enough that a pooled connection idle between two tests
    /// dies.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(1);

    public sealed override FaultScope Scope => FaultScope.Database;

    public sealed override bool Lasting => true;

    protected abstract TimeoutKind Kind { get; }

    /// <summary>The server timeout this kind shortens (what the owner socket maps a kind's name to).</summary>
    internal TimeoutKind Timeout => Kind;

    /// <summary>The kind that shortens <paramref name="timeout"/>.</summary>
    internal static TimeoutFault Of(TimeoutKind timeout) => FaultCatalogue.All.OfType<TimeoutFault>().First(k => k.Kind == timeout);

    /// <summary>What sessions opened while the fault lasted met, for the CLI's line.</summary>
    protected abstract string Effect(TimeSpan timeout);

    public override async Task<FaultOutcome> InjectAsync(IFaultTarget target, FaultArgs args, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(args);
        var timeout = args.Timeout ?? DefaultTimeout;
        if (timeout <= TimeSpan.Zero || timeout > TimeSpan.FromDays(1))
        {
            throw new ArgumentOutOfRangeException(nameof(args), timeout, "A timeout fault must be longer than zero and at most a day.");
        }

        target.Consent($"shorten the {Kind} timeout");
        Record(target, string.Create(CultureInfo.InvariantCulture, $"{timeout.TotalMilliseconds:0} ms"));
        var undo = await target.ShortenTimeoutAsync(Kind, timeout, ct).ConfigureAwait(false);
        return new FaultOutcome(undo, Detail: Effect(timeout));
    }
}

/// <summary>"idle": the server closes sessions that stay idle longer than the timeout (PostgreSQL
/// <c>idle_session_timeout</c>; MySQL <c>wait_timeout</c> through the kit's settings hook; both per database).</summary>
internal sealed class IdleTimeout : TimeoutFault
{
    public override string Name => "idle";

    public override string Summary => "sessions opened meanwhile get a short idle timeout";

    public override FaultTargets Targets => FaultTargets.Database | FaultTargets.Server;

    protected override TimeoutKind Kind => TimeoutKind.Idle;

    protected override string Effect(TimeSpan timeout) =>
        string.Create(CultureInfo.InvariantCulture, $"sessions opened meanwhile timed out after {timeout.TotalSeconds:0.###} s idle");
}
