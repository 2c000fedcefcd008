namespace TestDbKit.Sessions;

/// <summary>Which server a test class's pools live on: the shared one, or one of the class's own.</summary>
/// <param name="SchemaOwner">The class declaring the schema (pools are shared per schema).</param>
/// <param name="DedicatedTo">The test class that has a server of its own (<see cref="DedicatedServerAttribute"/>), or null.</param>
internal sealed record PoolScope(Type SchemaOwner, Type? DedicatedTo);

/// <summary>
/// Servers started for test classes marked <see cref="DedicatedServerAttribute"/>: one per class and engine,
/// started on first use and never stopped before the run ends. The provider's watchdog stops the server and
/// deletes its data when the test process exits, as it does for the shared server.
/// </summary>
internal static class DedicatedServers
{
    private static readonly OnceCache<(Type TestClass, DbEngine Engine, Options.ServerKey Options), DbServer> Servers = new();

    /// <summary>The class's server for <paramref name="engine"/>, started with <paramref name="options"/> (the
    /// class's <see cref="TestDbOptions"/>) on first use.</summary>
    public static Task<DbServer> GetAsync(Type testClass, DbEngine engine, DbServerOptions options, CancellationToken ct) =>
        Servers.GetAsync((testClass, engine, Options.ServerKey.Of(engine, options)), k => DbServer.StartAsync(k.Engine, options, CancellationToken.None), ct);
}
