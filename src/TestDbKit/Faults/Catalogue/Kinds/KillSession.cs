namespace TestDbKit.Faults;

/// <summary>"kill-session": ends the server session behind one connection the test holds.</summary>
internal sealed class KillSession : FaultKind
{
    public override string Name => "kill-session";

    public override string Summary => "end the server session behind one connection";

    public override FaultScope Scope => FaultScope.Connection;

    public override bool Lasting => false;

    public async Task InjectAsync(IFaultTarget target, Func<long> session, CancellationToken ct)
    {
        target.Consent("kill a session");
        Record(target);
        await target.ExecuteAsAdminAsync(target.Dialect.KillSessionSql(session()), ct).ConfigureAwait(false);
    }
}
