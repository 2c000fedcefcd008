namespace TestDbKit.Faults;

/// <summary>"restart": a clean shutdown and a start on the same port and data.</summary>
internal sealed class Restart : ServerFaultKind
{
    public override string Name => "restart";

    public override string Summary => "shut the server down cleanly and start it again";

    public override bool Lasting => false;

    public override string Doing => "restart the server";

    public override async Task<IAsyncDisposable?> InjectOnAsync(DbServer server, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(server);
        await server.Instance.RestartAsync(ct).ConfigureAwait(false);
        server.Dialect.ClearAllPools();
        return null;
    }
}
