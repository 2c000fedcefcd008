using System.Collections.Concurrent;

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
    private static readonly ConcurrentDictionary<(Type, DbEngine), Lazy<Task<DbServer>>> Servers = new();

    public static async Task<DbServer> GetAsync(Type testClass, DbEngine engine, CancellationToken ct)
    {
        var key = (testClass, engine);
        while (true)
        {
            var lazy = Servers.GetOrAdd(key, k => new Lazy<Task<DbServer>>(() => DbServer.StartAsync(k.Item2, ct: CancellationToken.None)));
            try
            {
                return await lazy.Value.WaitAsync(ct).ConfigureAwait(false);
            }
            catch (Exception) when (lazy.Value.IsFaulted && !ct.IsCancellationRequested)
            {
                // Not cached: the next test of the class tries again, and sees its own error.
                Servers.TryRemove(new KeyValuePair<(Type, DbEngine), Lazy<Task<DbServer>>>(key, lazy));
                throw;
            }
        }
    }
}
