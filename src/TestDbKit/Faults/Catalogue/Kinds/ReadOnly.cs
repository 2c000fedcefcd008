namespace TestDbKit.Faults;

/// <summary>"read-only": the test's database refuses writes, as after a failover onto a replica: per database on
/// both engines (PostgreSQL <c>default_transaction_read_only</c>; MySQL through the kit's per-database settings,
/// <c>tx_read_only</c> / <c>transaction_read_only</c> for the test user's sessions), for new sessions and the
/// test's open connection.</summary>
internal sealed class ReadOnly : FaultKind
{
    public override string Name => "read-only";

    public override string Summary => "the test's database refuses writes until undone";

    public override FaultScope Scope => FaultScope.Database;

    public override bool Lasting => true;

    public override FaultTargets Targets => FaultTargets.Database;

    public override async Task<FaultOutcome> InjectAsync(IFaultTarget target, FaultArgs args, CancellationToken ct)
    {
        var database = target as FaultInjector.DatabaseTarget
            ?? throw new NotSupportedException("The read-only fault works on one leased test database (FaultInjector.SetReadOnlyAsync).");
        target.Consent("make the database read-only");
        Record(target);
        return new FaultOutcome(await database.MakeReadOnlyAsync(ct).ConfigureAwait(false));
    }
}
