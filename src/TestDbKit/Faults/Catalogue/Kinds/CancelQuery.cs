namespace TestDbKit.Faults;

/// <summary>"cancel": cancels the statement one connection is running; its session survives.</summary>
internal sealed class CancelQuery : FaultKind
{
    public override string Name => "cancel";

    public override string Summary => "cancel the statement one connection is running";

    public override FaultScope Scope => FaultScope.Connection;

    public override bool Lasting => false;

    public async Task InjectAsync(IFaultTarget target, Func<long> session, CancellationToken ct)
    {
        target.Consent("cancel a query");
        Record(target);
        await target.ExecuteAsAdminAsync(target.Dialect.CancelQuerySql(session()), ct).ConfigureAwait(false);
    }
}
