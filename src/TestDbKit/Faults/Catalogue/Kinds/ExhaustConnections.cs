using System.Data.Common;
using TestDbKit.Engines;

namespace TestDbKit.Faults;

/// <summary>"exhaust": takes every connection the server allows, so new ones fail with "too many connections"
/// (PostgreSQL 53300, MySQL 1040) until undone.</summary>
internal sealed class ExhaustConnections : ServerFaultKind
{
    public override string Name => "exhaust";

    public override string Summary => "take every connection the server allows for the hold";

    public override bool Lasting => true;

    public override string Doing => "exhaust the server's connections";

    public override async Task<IAsyncDisposable?> InjectOnAsync(DbServer server, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(server);
        var dialect = server.Dialect;
        var holders = new List<DbConnection>();
        var cs = dialect.ForProbe(dialect.WithApplicationName(server.AdminConnectionString, "testdbkit-fault"), TimeSpan.FromSeconds(10));
        try
        {
            for (var full = false; !full && holders.Count < 5000;)
            {
                // A batch at a time: opening hundreds one by one would take seconds.
                var batch = Enumerable.Range(0, 16).Select(_ => dialect.CreateConnection(cs)).ToList();
                var opened = await Task.WhenAll(batch.Select(async c =>
                {
                    try
                    {
                        await c.OpenAsync(ct).ConfigureAwait(false);
                        return true;
                    }
                    catch (DbException e) when (dialect.IsTooManyConnections(e))
                    {
                        return false;
                    }
                })).ConfigureAwait(false);
                for (var i = 0; i < batch.Count; i++)
                {
                    if (opened[i])
                    {
                        holders.Add(batch[i]);
                    }
                    else
                    {
                        full = true;
                        await batch[i].DisposeAsync().ConfigureAwait(false);
                    }
                }
            }
        }
        catch
        {
            await CloseAllAsync(holders).ConfigureAwait(false);
            throw;
        }

        return new FaultInjector.Undo(() => CloseAllAsync(holders));

        static async Task CloseAllAsync(List<DbConnection> connections)
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
