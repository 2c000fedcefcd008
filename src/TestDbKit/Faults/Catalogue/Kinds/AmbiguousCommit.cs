namespace TestDbKit.Faults;

/// <summary>"ambiguous-commit": the next COMMIT through the proxy reaches the server and its reply is lost
/// (<see cref="NetworkFaults.AmbiguousCommitAsync"/>).</summary>
internal sealed class AmbiguousCommit : NetworkFaultKind
{
    public override string Name => "ambiguous-commit";

    public override string Summary => "lose the reply to the next COMMIT through the kit's network proxy";

    public override bool Lasting => true;
}
