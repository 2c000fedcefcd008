namespace TestDbKit.Faults;

/// <summary>"read-only": the test's database refuses writes, as after a failover onto a replica (PostgreSQL per
/// database; MySQL's global <c>read_only</c>, on a server of the test's own where test sessions are not
/// administrators).</summary>
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
        var (set, undo, serverWide) = target.Dialect.ReadOnlySql(database.Name);
        if (serverWide && !database.ServerWide("make the server read-only").HasTestUser)
        {
            throw new NotSupportedException(
                $"{target.Dialect.Name}'s read_only does not bind administrators, and this test's sessions log in as one; a read-only fault " +
                "needs a server started by DbServer.StartAsync (or [DedicatedServer]), where they log in as the kit's test user.");
        }

        target.Consent("make the database read-only");
        Record(target);
        return new FaultOutcome(await database.ChangeSettingAsync(set, undo, ct).ConfigureAwait(false));
    }
}
