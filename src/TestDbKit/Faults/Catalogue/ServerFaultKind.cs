namespace TestDbKit.Faults;

/// <summary>
/// A fault that reaches the whole server (crash, restart, freeze, connection exhaustion). It runs only in the
/// process that started the server: <see cref="InjectOnAsync"/> is what that process does; a target that does
/// not own the server (<c>testdbkit chaos</c>) asks the owner over its socket, naming the fault by
/// <see cref="FaultKind.Name"/>, and the owner holds a lasting one and undoes it.
/// </summary>
internal abstract class ServerFaultKind : FaultKind
{
    public sealed override FaultScope Scope => FaultScope.Server;

    public override FaultTargets Targets => FaultTargets.Database | FaultTargets.Server;

    /// <summary>As a verb phrase, for refusals: "crash the server".</summary>
    public abstract string Doing { get; }

    /// <summary>Does the fault to <paramref name="server"/>, a server this process started; returns the undo of a
    /// lasting fault.</summary>
    public abstract Task<IAsyncDisposable?> InjectOnAsync(DbServer server, CancellationToken ct);

    public override async Task<FaultOutcome> InjectAsync(IFaultTarget target, FaultArgs args, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(args);
        return await target.OnServerAsync(this, args.Hold, ct).ConfigureAwait(false);
    }

    /// <summary>In the owning process: records (unless the asker does) and injects.</summary>
    internal async Task<FaultOutcome> InjectHereAsync(IFaultTarget target, DbServer server, CancellationToken ct, bool record = true)
    {
        if (record)
        {
            Record(target);
        }

        return new FaultOutcome(await InjectOnAsync(server, ct).ConfigureAwait(false));
    }
}
