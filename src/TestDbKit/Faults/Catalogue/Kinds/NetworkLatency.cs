namespace TestDbKit.Faults;

/// <summary>"network-latency": every chunk through the proxy is delayed (the generic path: 50 ms ± 25 ms).</summary>
internal sealed class NetworkLatency : NetworkFaultKind
{
    public override string Name => "network-latency";

    public override string Summary => "delay traffic through the test's network proxy";

    public override bool Lasting => true;

    public override FaultTargets Targets => FaultTargets.Database;

    public override ChaosFault? Chaos => ChaosFault.NetworkLatency;

    public override async Task<FaultOutcome> InjectAsync(IFaultTarget target, FaultArgs args, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(target);
        return new FaultOutcome(await target.Network.AddLatencyAsync(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(25), ct: ct).ConfigureAwait(false));
    }
}
