using System.Globalization;

namespace TestDbKit.Faults;

/// <summary>"network-reset": every connection through the proxy is closed with a TCP reset.</summary>
internal sealed class NetworkReset : NetworkFaultKind
{
    public override string Name => "network-reset";

    public override string Summary => "reset every connection through the kit's network proxy";

    public override bool Lasting => false;

    public override FaultTargets Targets => FaultTargets.Database;

    public override ChaosFault? Chaos => ChaosFault.NetworkReset;

    public override async Task<FaultOutcome> InjectAsync(IFaultTarget target, FaultArgs args, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(target);
        var reset = await target.Network.ResetConnectionsAsync(ct).ConfigureAwait(false);
        return new FaultOutcome(null, reset, string.Create(CultureInfo.InvariantCulture, $"{reset} connection(s) reset"));
    }
}
