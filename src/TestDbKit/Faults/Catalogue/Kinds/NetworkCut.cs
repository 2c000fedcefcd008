namespace TestDbKit.Faults;

/// <summary>"network-cut": each connection through the proxy is reset once so many bytes have passed
/// (<see cref="NetworkFaults.CloseAfterBytesAsync"/>).</summary>
internal sealed class NetworkCut : NetworkFaultKind
{
    public override string Name => "network-cut";

    public override string Summary => "reset connections through the kit's network proxy after some bytes";

    public override bool Lasting => true;
}
