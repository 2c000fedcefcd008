namespace TestDbKit.Faults;

/// <summary>"network-stall": all traffic through the proxy is held (a black hole) until undone.</summary>
internal sealed class NetworkStall : NetworkFaultKind
{
    public override string Name => "network-stall";

    public override string Summary => "hold all traffic through the kit's network proxy";

    public override bool Lasting => true;

    public override FaultTargets Targets => FaultTargets.Database;

    public override ChaosFault? Chaos => ChaosFault.NetworkStall;

    public override async Task<FaultOutcome> InjectAsync(IFaultTarget target, FaultArgs args, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(target);
        return new FaultOutcome(await target.Network.StallAsync(ct: ct).ConfigureAwait(false));
    }
}
