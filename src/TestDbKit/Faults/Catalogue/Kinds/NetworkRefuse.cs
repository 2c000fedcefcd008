namespace TestDbKit.Faults;

/// <summary>"network-refuse": every new connection through the proxy is reset at once (the server looks
/// unreachable) until undone.</summary>
internal sealed class NetworkRefuse : NetworkFaultKind
{
    public override string Name => "network-refuse";

    public override string Summary => "reset every new connection through the kit's network proxy";

    public override bool Lasting => true;

    public override FaultTargets Targets => FaultTargets.Database;

    public override async Task<FaultOutcome> InjectAsync(IFaultTarget target, FaultArgs args, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(target);
        return new FaultOutcome(await target.Network.RefuseNewConnectionsAsync(ct).ConfigureAwait(false));
    }
}
