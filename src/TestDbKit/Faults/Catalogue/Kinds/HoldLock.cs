using TestDbKit.Diagnostics;
using TestDbKit.Engines;

namespace TestDbKit.Faults;

/// <summary>"lock": a session of the kit holds a lock on one table of the test's database that blocks every
/// other session's reads and writes of it, until undone.</summary>
internal sealed class HoldLock : FaultKind
{
    public override string Name => "lock";

    public override string Summary => "hold a lock on one table that blocks every other session";

    public override FaultScope Scope => FaultScope.Database;

    public override bool Lasting => true;

    public async Task<IAsyncDisposable> InjectAsync(IFaultTarget target, string databaseConnectionString, string table, CancellationToken ct)
    {
        Record(target, table);
        ArgumentException.ThrowIfNullOrWhiteSpace(table);
        var dialect = target.Dialect;
        var sql = dialect.LockTableSql(table); // validates the name before anything runs
        // Unpooled: a pooled holder stayed idle in the driver's pool on the test's database after the fault (a session
        // the leak check counts), and a later lock fault got it back dead after a kill had ended it (57P01).
        var holder = dialect.CreateConnection(dialect.ForProbe(dialect.WithApplicationName(databaseConnectionString, "testdbkit-fault"), TimeSpan.FromSeconds(15)));
        try
        {
            await holder.OpenAsync(ct).ConfigureAwait(false);
            await holder.ExecuteAsync(sql, ct).ConfigureAwait(false);
        }
        catch
        {
            await holder.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        return new FaultInjector.Undo(async () =>
        {
            try
            {
                await holder.ExecuteAsync(dialect.ReleaseTableLockSql, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (DbErrors.IsConnectionLostUncounted(e) || e is InvalidOperationException)
            {
                // The holder's session was killed (a kill-all fault, or the leak cleanup): its lock went with it.
            }
            finally
            {
                await holder.DisposeAsync().ConfigureAwait(false);
            }
        });
    }
}
