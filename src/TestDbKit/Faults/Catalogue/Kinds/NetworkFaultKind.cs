namespace TestDbKit.Faults;

/// <summary>What the network kinds share: they act on a TCP proxy of the kit (<see cref="NetworkFaults"/>), so only
/// connections opened through it are touched: a test database's (a database target has one), or the one
/// <c>testdbkit serve --proxy</c> runs in front of its server (<c>testdbkit fault</c> and <c>chaos</c> ask the serve
/// process over its control socket, and <see cref="NetworkFaults"/> maps the kind and its value).</summary>
internal abstract class NetworkFaultKind : FaultKind
{
    public sealed override FaultScope Scope => FaultScope.Database;

    /// <summary>Records the fault on the proxy's database; the proxy calls it as it injects.</summary>
    internal void Record(string database, string? detail = null) => Diagnostics.FaultLog.Record(this, database, detail);
}
