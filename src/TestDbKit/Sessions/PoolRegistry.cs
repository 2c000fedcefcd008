using TestDbKit.Options;

namespace TestDbKit.Sessions;

/// <summary>One <see cref="DatabasePool"/> per engine, schema, pool options and server for the whole test run,
/// on the server the options pick (the run-wide shared one for the defaults); or per test class too when the
/// class has a server of its own (<see cref="PoolScope"/>). Options are part of the key: two classes of one
/// schema that ask for different pool options (another MaxDatabases, isolation, ...) get a pool each, never
/// each other's.</summary>
internal static class PoolRegistry
{
    // A failed schema is reported to every test that asks, but not kept: a fix is picked up.
    private static readonly OnceCache<(DbEngine Engine, object SchemaKey, PoolKey Pool, ServerKey Server), DatabasePool> Pools = new();

    public static Task<DatabasePool> GetAsync(
        DbEngine engine, object schemaKey, Func<SchemaTarget, CancellationToken, Task> createSchema, IsolationMode isolation, DatabasePoolOptions pool, DbServerOptions server, CancellationToken ct) =>
        Pools.GetAsync((engine, schemaKey, PoolKey.Of(pool, isolation), ServerKey.Of(engine, server)), async key =>
        {
            var host = key.SchemaKey is PoolScope { DedicatedTo: { } testClass }
                ? await DedicatedServers.GetAsync(testClass, key.Engine, server, CancellationToken.None).ConfigureAwait(false)
                : await DbServer.SharedForAsync(key.Engine, server, CancellationToken.None).ConfigureAwait(false);
            return await DatabasePool.CreateAsync(host, new DatabasePoolOptions
            {
                BuildSchema = createSchema,
                Isolation = isolation,
                MaxDatabases = pool.MaxDatabases,
                ResetSequences = pool.ResetSequences,
                StaleDatabaseAge = pool.StaleDatabaseAge,
                SchemaFiles = pool.SchemaFiles,
                LoggerFactory = pool.LoggerFactory,
            }).ConfigureAwait(false);
        }, ct);
}
