using System.Collections.Concurrent;
using System.Data.Common;

namespace TestDbKit.Sessions;

/// <summary>One <see cref="DatabasePool"/> per engine, schema and isolation mode for the whole test run, on the
/// shared server; or per test class too when the class has a server of its own (<see cref="PoolScope"/>).</summary>
internal static class PoolRegistry
{
    private static readonly ConcurrentDictionary<(DbEngine, object, IsolationMode), Lazy<Task<DatabasePool>>> Pools = new();

    public static async Task<DatabasePool> GetAsync(DbEngine engine, object schemaKey, Func<DbConnection, Task> createSchema, IsolationMode isolation, CancellationToken ct)
    {
        var key = (engine, schemaKey, isolation);
        while (true)
        {
            var lazy = Pools.GetOrAdd(key, _ => new Lazy<Task<DatabasePool>>(async () =>
            {
                var server = schemaKey is PoolScope { DedicatedTo: { } testClass }
                    ? await DedicatedServers.GetAsync(testClass, engine, CancellationToken.None).ConfigureAwait(false)
                    : await DbServer.SharedAsync(engine).ConfigureAwait(false);
                return await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = createSchema, Isolation = isolation }).ConfigureAwait(false);
            }));
            try
            {
                return await lazy.Value.WaitAsync(ct).ConfigureAwait(false);
            }
            catch (Exception) when (lazy.Value.IsFaulted && !ct.IsCancellationRequested)
            {
                // A failed schema is reported to every test that asks, but not cached: a fix is picked up.
                Pools.TryRemove(new KeyValuePair<(DbEngine, object, IsolationMode), Lazy<Task<DatabasePool>>>(key, lazy));
                throw;
            }
        }
    }
}
