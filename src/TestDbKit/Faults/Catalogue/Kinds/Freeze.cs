namespace TestDbKit.Faults;

/// <summary>"freeze": SIGSTOP to every process of the server until undone (SIGCONT): connections stay open and
/// nothing answers, as with a stalled VM.</summary>
internal sealed class Freeze : ServerFaultKind
{
    public override string Name => "freeze";

    public override string Summary => "stop every process of the server for the hold, then let it go on";

    public override bool Lasting => true;

    public override ChaosFault? Chaos => ChaosFault.FreezeServer;

    public override string Doing => "freeze the server";

    public override async Task<IAsyncDisposable?> InjectOnAsync(DbServer server, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(server);
        await server.Instance.FreezeAsync(ct).ConfigureAwait(false);
        return new FaultInjector.Undo(() => server.Instance.ThawAsync(CancellationToken.None));
    }
}
