namespace TestDbKit.Faults;

/// <summary>What the network kinds share: they act on the test database's TCP proxy (<see cref="NetworkFaults"/>),
/// so only connections opened through it are touched, and only a database target has one.</summary>
internal abstract class NetworkFaultKind : FaultKind
{
    public sealed override FaultScope Scope => FaultScope.Database;

    /// <summary>Records the fault on the proxy's database; the proxy calls it as it injects.</summary>
    internal void Record(string database, string? detail = null) => Diagnostics.FaultLog.Record(this, database, detail);
}
