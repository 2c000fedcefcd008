namespace TestDbKit.Faults;

/// <summary>"crash": SIGKILL to every process of the server, then the owner starts it again on the same port and
/// data. Clients lose their connections; committed data survives.</summary>
internal sealed class Crash : ServerFaultKind
{
    public override string Name => "crash";

    public override string Summary => "kill the server without warning and start it again";

    public override bool Lasting => false;

    public override ChaosFault? Chaos => ChaosFault.CrashServer;

    public override string Doing => "crash the server";

    public override async Task<IAsyncDisposable?> InjectOnAsync(DbServer server, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(server);
        await server.Instance.CrashAsync(ct).ConfigureAwait(false);
        server.Dialect.ClearAllPools(); // every pooled session of this server died with it
        return null;
    }
}
