using System.Data.Common;

namespace TestDbKit.Sessions;

/// <summary>One <see cref="DatabasePool"/> per engine, schema and isolation mode for the whole test run, on the
/// shared server; or per test class too when the class has a server of its own (<see cref="PoolScope"/>).</summary>
internal static class PoolRegistry
{
    // A failed schema is reported to every test that asks, but not kept: a fix is picked up.
    private static readonly OnceCache<(DbEngine Engine, object SchemaKey, IsolationMode Isolation), DatabasePool> Pools = new();

    public static Task<DatabasePool> GetAsync(DbEngine engine, object schemaKey, Func<DbConnection, Task> createSchema, IsolationMode isolation, CancellationToken ct) =>
        Pools.GetAsync((engine, schemaKey, isolation), async key =>
        {
            var server = key.SchemaKey is PoolScope { DedicatedTo: { } testClass }
                ? await DedicatedServers.GetAsync(testClass, key.Engine, CancellationToken.None).ConfigureAwait(false)
                : await DbServer.SharedAsync(key.Engine).ConfigureAwait(false);
            return await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = createSchema, Isolation = key.Isolation }).ConfigureAwait(false);
        }, ct);
}
