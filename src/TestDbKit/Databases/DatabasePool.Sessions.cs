using System.Collections.Concurrent;
using System.Data.Common;
using Microsoft.Extensions.Logging;
using TestDbKit.Engines;

namespace TestDbKit;

// DatabasePool, part: session hygiene between leases. A session that died during a lease (killed by a fault, by the
// test's own SQL, by a server timeout) may sit idle in any pool that held it: the driver's global pool of the string
// the test was handed, pools of strings the test or a provider derived from it (TestDbOptions.ConnectionString,
// Pomelo's rewrite), or the NpgsqlDataSource EF's Npgsql provider builds for itself (MapEnum), which the kit cannot
// reach. So each database has a session generation, carried in the application name of every string tests are
// handed. When sessions of a database may have been lost, the return bumps the generation, clears the pools it knows
// and ends every test session still on the database server-side (the lease is back: all of them are leftovers idle in
// pools of the old strings). The next lease's strings are new, so every pool built from them is new, and the old
// pools, with whatever dead sessions they hold, are never asked again. When nothing broke, nothing changes and the
// next test reuses the pooled sessions.
public sealed partial class DatabasePool
{
    private readonly ConcurrentDictionary<string, SessionLedger> _sessions = new();

    /// <summary>What the pool knows about one database's test sessions between leases.</summary>
    private sealed class SessionLedger
    {
        /// <summary>The session generation: part of the application name of the strings tests are handed.</summary>
        public int Generation;

        /// <summary>Set during a lease when the kit ended, or made the server end, sessions of the database, or
        /// left some with a setting of a fault (1 = yes).</summary>
        public int Lost;

        /// <summary>PostgreSQL: the database's count of sessions that ended abnormally, at the last return.</summary>
        public long EndedAbnormally;

        /// <summary>The count of clears of every pool (<see cref="EngineDialect.AllPoolsCleared"/>: [ResetConnection], a
        /// crash or restart of any server, DbServer.ClearPools) at the last return: when it moved, sessions seen then may
        /// have been closed cleanly by that clear, not killed.</summary>
        public long PoolsCleared;

        /// <summary>Engines without such a count (MySQL): ids of the database's sessions at the last return.</summary>
        public HashSet<long> Seen = [];
    }

    private SessionLedger LedgerOf(string name) => _sessions.GetOrAdd(name, _ => new SessionLedger());

    /// <summary>The application name of the sessions of <paramref name="name"/>'s current generation.</summary>
    internal string CurrentApplicationName(string name) => TestApplicationName(name, Volatile.Read(ref LedgerOf(name).Generation));

    /// <summary>The application name of test sessions on <paramref name="name"/> (PostgreSQL <c>application_name</c>;
    /// MySQL the <c>program_name</c> connection attribute) in session generation <paramref name="generation"/>: each
    /// generation has pools of its own.</summary>
    internal static string TestApplicationName(string name, int generation = 0) =>
        generation == 0 ? TestApplicationNamePrefix + name : $"{TestApplicationNamePrefix}{name}-g{generation}";

    /// <summary>What every test session's application name starts with.</summary>
    internal const string TestApplicationNamePrefix = "testdbkit-test-";

    /// <summary>Says that sessions of <paramref name="name"/> may have been ended (or left with a fault's setting)
    /// during the current lease: the return then starts a new session generation.</summary>
    internal void MarkSessionsLost(string name) => Volatile.Write(ref LedgerOf(name).Lost, 1);

    /// <summary>Says that sessions of every database of the pool may have died (a crash or restart of the server):
    /// those resting in the pool are settled when next leased, the leased ones when they come back.</summary>
    internal void MarkAllSessionsLost()
    {
        foreach (var name in _alive.Keys)
        {
            MarkSessionsLost(name);
        }
    }

    /// <summary>At lease: a database marked while it rested in the pool (see <see cref="MarkAllSessionsLost"/>) gets
    /// its new session generation before its strings are handed out. Nothing to do, and no round trip, otherwise.</summary>
    private Task SettleIfMarkedAsync(PooledDatabase database, CancellationToken ct) =>
        Volatile.Read(ref LedgerOf(database.Name).Lost) == 1 ? SettleSessionsAsync(database, ct) : Task.CompletedTask;

    /// <summary>The kit closed the sessions of <paramref name="name"/> it knew itself: their absence at the next
    /// return says nothing.</summary>
    private void ForgetSeenSessions(string name) => LedgerOf(name).Seen = [];

    /// <summary>The session generation of <paramref name="name"/> (for tests).</summary>
    internal int SessionGeneration(string name) => Volatile.Read(ref LedgerOf(name).Generation);

    /// <summary>
    /// After the reset of a returned database: decides whether any session of it may have died during the lease
    /// (the kit said so; PostgreSQL's count of sessions killed, ended by a fatal error or abandoned changed; on
    /// MySQL a session seen at the last return is gone, or the driver's pools of the lease's tag hold more sessions
    /// than the server lists for the database), and if so starts a new session generation: clears the
    /// pools of every string handed out for the database, then ends its remaining sessions (those in pools the kit
    /// cannot reach). One query on the pooled control connection when nothing broke.
    /// </summary>
    private async Task SettleSessionsAsync(PooledDatabase database, CancellationToken ct)
    {
        var ledger = LedgerOf(database.Name);
        var lost = Interlocked.Exchange(ref ledger.Lost, 0) == 1;
        try
        {
            await SettleSessionsAsync(database, ledger, lost, ct).ConfigureAwait(false);
        }
        catch
        {
            if (lost)
            {
                MarkSessionsLost(database.Name); // still to do, should the database be leased again
            }

            throw;
        }
    }

    private async Task SettleSessionsAsync(PooledDatabase database, SessionLedger ledger, bool lost, CancellationToken ct)
    {
        // Read before the sessions are: a clear after this line is seen as one at the next return.
        var clears = EngineDialect.AllPoolsCleared;
        await using var control = await OpenAsync(database.ControlConnectionString, ct).ConfigureAwait(false);
        var count = Dialect.EndedSessionsCountSql(database.Name);
        var kitSaid = lost;
        string? seenWhy = null; // only for the lifecycle benchmark's trace
        long ended = 0;
        HashSet<long> seen = [];
        if (count is not null)
        {
            ended = await ReadCountAsync(control, count, ct).ConfigureAwait(false);
            lost |= ended != ledger.EndedAbnormally;
        }
        else
        {
            // A session seen at the last return is gone, or this process's pools of the lease's tag hold more
            // sessions than the server has for the database (one opened during this lease and killed since).
            // A clear of every pool since then ([ResetConnection], a crash or restart of any server of this process)
            // closed every idle pooled session cleanly, Pomelo's too: those are gone without being dead in any pool, so
            // only the count of held sessions tells.
            seen = await ReadSessionsAsync(control, database.Name, ct).ConfigureAwait(false);
            var cleared = ledger.PoolsCleared != clears;
            var gone = !cleared && !ledger.Seen.IsSubsetOf(seen);
            var held = PoolUsage.Held(_server.Engine, CurrentApplicationName(database.Name));
            if (Sessions.SessionTrace.Observer is not null)
            {
                seenWhy = gone ? " (seen gone)" : held > seen.Count ? $" (held {held} > {seen.Count})" : "";
            }

            lost |= gone || held > seen.Count;
        }

        if (lost)
        {
            if (Sessions.SessionTrace.Observer is not null)
            {
                Sessions.SessionTrace.Count((kitSaid ? "settle: new generation (kit said)" : "settle: new generation") + seenWhy);
            }

            Interlocked.Increment(ref ledger.Generation);
            ClearTestPools(database.Name, forgetOld: true);
            var killed = await Dialect.EndSessionsAsync(control, database.Name, Engines.SessionFilter.All, ct).ConfigureAwait(false);
            LogNewSessionGeneration(_logger, database.Name, ledger.Generation, killed);
            if (count is not null)
            {
                ended = killed == 0 ? ended : await ReadCountAsync(control, count, ct).ConfigureAwait(false);
            }
            else
            {
                seen = killed == 0 ? seen : await ReadSessionsAsync(control, database.Name, ct).ConfigureAwait(false);
            }
        }

        ledger.EndedAbnormally = ended;
        ledger.Seen = seen;
        ledger.PoolsCleared = clears;
    }

    private static async Task<long> ReadCountAsync(DbConnection control, string sql, CancellationToken ct) =>
        Convert.ToInt64(await control.ScalarAsync(sql, ct).ConfigureAwait(false) ?? 0L, System.Globalization.CultureInfo.InvariantCulture);

    private async Task<HashSet<long>> ReadSessionsAsync(DbConnection control, string name, CancellationToken ct) =>
        [.. await control.ReadColumnAsync(Dialect.SessionsOfDatabaseSql(name),
            r => Convert.ToInt64(r.GetValue(0), System.Globalization.CultureInfo.InvariantCulture), ct).ConfigureAwait(false)];

    [LoggerMessage(LogLevel.Debug, "Sessions of {Database} may have died during the lease: session generation {Generation} starts, {Ended} leftover session(s) ended")]
    private static partial void LogNewSessionGeneration(ILogger logger, string database, int generation, int ended);
}
