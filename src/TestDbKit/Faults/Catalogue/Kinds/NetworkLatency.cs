namespace TestDbKit.Faults;

/// <summary>"network-latency": every chunk through the proxy is delayed (the generic path: 50 ms ± 25 ms).</summary>
internal sealed class NetworkLatency : NetworkFaultKind
{
    /// <summary>The delay of the generic path (schedules, <c>testdbkit fault</c> without a value).</summary>
    internal static readonly TimeSpan DefaultLatency = TimeSpan.FromMilliseconds(50);

    /// <summary>The jitter of the generic path: the delay varies by up to this much either way.</summary>
    internal static readonly TimeSpan DefaultJitter = TimeSpan.FromMilliseconds(25);

    public override string Name => "network-latency";

    public override string Summary => "delay traffic through the kit's network proxy";

    public override bool Lasting => true;

    public override FaultTargets Targets => FaultTargets.Database;

    public override ChaosFault? Chaos => ChaosFault.NetworkLatency;

    public override async Task<FaultOutcome> InjectAsync(IFaultTarget target, FaultArgs args, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(target);
        return new FaultOutcome(await target.Network.AddLatencyAsync(DefaultLatency, DefaultJitter, ct: ct).ConfigureAwait(false));
    }
}
