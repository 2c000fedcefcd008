namespace TestDbKit.Faults;

/// <summary>"network-bandwidth": at most so many bytes a second pass the proxy per connection and direction
/// (<see cref="NetworkFaults.LimitBandwidthAsync"/>).</summary>
internal sealed class NetworkBandwidth : NetworkFaultKind
{
    public override string Name => "network-bandwidth";

    public override string Summary => "limit the bandwidth of the kit's network proxy";

    public override bool Lasting => true;
}
