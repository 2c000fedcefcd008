using System.Collections.Concurrent;
using System.Data.Common;
using System.Globalization;
using System.Diagnostics;

namespace TestDbKit;

/// <summary>
/// A record of every write a chaos test makes while faults break the database, checked at the end against what
/// the database holds: no acknowledged write lost, no write applied twice, no "failed" write applied, every write
/// given an outcome, and each unknown outcome (the ambiguous COMMIT) resolved either way.
/// </summary>
/// <remarks>
/// Each write has a key the database stores (an order number, a request id). Record it with
/// <see cref="RecordAsync"/> or <see cref="TryRecordAsync"/>, which run the write and classify what it throws with
/// <see cref="DbErrors"/>, or with <see cref="Begin"/> and one of <see cref="LedgerWrite"/>'s outcome calls. Then <see cref="VerifyAsync"/>
/// (throws <see cref="WriteLedgerException"/>) or <see cref="CheckAsync"/> (returns the result) runs a query of
/// the test's own that returns the keys present. Violations list the kit's faults around each offending write.
/// Thread-safe: several writers may share one ledger.
/// </remarks>
public sealed class WriteLedger
{
    private readonly ConcurrentDictionary<string, LedgerWrite> _writes = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<LedgerWrite> _order = new();

    /// <summary>How far before a write began and after it ended a fault still counts as "around" it in a
    /// violation's timeline. Default 2 s.</summary>
    public TimeSpan FaultWindow { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>The writes begun so far, in the order they began.</summary>
    public IReadOnlyList<LedgerWrite> Writes => [.. _order];

    /// <summary>Begins a write that will store <paramref name="key"/>; record its outcome on what this returns.</summary>
    /// <param name="key">The key the write stores, as the check's query returns it; one write per key.</param>
    /// <exception cref="ArgumentException">The key is empty or was begun already.</exception>
    public LedgerWrite Begin(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var write = new LedgerWrite(key);
        if (!_writes.TryAdd(key, write))
        {
            throw new ArgumentException(
                $"The write '{key}' was begun already in this ledger. Each write stores its own key; a retry of the same write is part of that write (record its outcome once, after the retries).",
                nameof(key));
        }

        _order.Enqueue(write);
        return write;
    }

    /// <summary>
    /// Runs <paramref name="write"/> (which may retry inside) and records its outcome, leaving what it does unchanged:
    /// acknowledged when it returns; when it throws, failed or unknown as <see cref="LedgerWrite.Classify"/> decides,
    /// and the exception goes on to the caller (a write the code under test gave up on fails the test, as it would
    /// without the ledger). <see cref="TryRecordAsync"/> returns the outcome instead.
    /// </summary>
    /// <param name="key">The key the write stores.</param>
    /// <param name="write">The write, given <paramref name="ct"/>.</param>
    /// <param name="ct">Cancels the write.</param>
    /// <returns>A task that completes when the write does.</returns>
    public async Task RecordAsync(string key, Func<CancellationToken, Task> write, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        var entry = Begin(key);
        try
        {
            await write(ct).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            entry.Classify(e);
            throw;
        }

        entry.Acknowledged();
    }

    /// <summary>
    /// Runs <paramref name="write"/> and records its outcome like <see cref="RecordAsync"/>, but a database error
    /// (what <see cref="DbErrors"/> knows, a <see cref="DbException"/>, a timeout) is recorded and not thrown: for
    /// writers that go on under faults. Any other exception (a bug in the write, or <paramref name="ct"/> cancelled)
    /// is recorded (as unknown) and thrown.
    /// </summary>
    /// <param name="key">The key the write stores.</param>
    /// <param name="write">The write, given <paramref name="ct"/>.</param>
    /// <param name="ct">Cancels the write.</param>
    /// <returns>The outcome recorded.</returns>
    public async Task<WriteOutcome> TryRecordAsync(string key, Func<CancellationToken, Task> write, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(write);
        var entry = Begin(key);
        try
        {
            await write(ct).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            var outcome = entry.Classify(e);
            if (LedgerWrite.IsDatabaseError(e, DbErrors.Classify(e)) && !ct.IsCancellationRequested)
            {
                return outcome;
            }

            throw;
        }

        entry.Acknowledged();
        return WriteOutcome.Acknowledged;
    }

    /// <summary>
    /// Compares the ledger with the database: runs <paramref name="query"/> on <paramref name="connection"/> (open),
    /// whose first column is a write's key, one row per stored copy (<c>SELECT order_no FROM orders</c>), or with a
    /// second column the number of copies (<c>SELECT order_no, COUNT(*) FROM orders GROUP BY order_no</c>). Keys the
    /// ledger does not know are ignored. Read the database directly, not through a fault proxy. A violation lists the
    /// kit's faults on the connection's database and on whole servers, not those of tests running beside this one.
    /// </summary>
    /// <param name="connection">An open connection to the database the writes went to.</param>
    /// <param name="query">The query returning the keys present.</param>
    /// <param name="ct">Cancels the query.</param>
    /// <returns>What was found, and every violation.</returns>
    public async Task<WriteLedgerResult> CheckAsync(DbConnection connection, string query, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentException.ThrowIfNullOrWhiteSpace(query);
        var copies = new Dictionary<string, long>(StringComparer.Ordinal);
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = query;
            await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                if (await reader.IsDBNullAsync(0, ct).ConfigureAwait(false))
                {
                    continue;
                }

                var key = Convert.ToString(reader.GetValue(0), CultureInfo.InvariantCulture) ?? "";
                var count = reader.FieldCount > 1 ? Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture) : 1;
                copies[key] = copies.GetValueOrDefault(key) + count;
            }
        }

        var endpoint = Engines.EngineRegistry.All.FirstOrDefault(d => d.Owns(connection))?.EndpointOf(connection.ConnectionString);
        return Judge(copies, Stopwatch.GetTimestamp(), connection.Database, endpoint);
    }

    /// <summary>Like <see cref="CheckAsync"/>, and throws when a write breaks the ledger.</summary>
    /// <param name="connection">An open connection to the database the writes went to.</param>
    /// <param name="query">The query returning the keys present (see <see cref="CheckAsync"/>).</param>
    /// <param name="ct">Cancels the query.</param>
    /// <returns>The result, consistent.</returns>
    /// <exception cref="WriteLedgerException">A write was lost, duplicated, applied though failed, or left unresolved;
    /// its message lists them with the faults around each.</exception>
    public async Task<WriteLedgerResult> VerifyAsync(DbConnection connection, string query, CancellationToken ct = default)
    {
        var result = await CheckAsync(connection, query, ct).ConfigureAwait(false);
        return result.IsConsistent ? result : throw new WriteLedgerException(result);
    }

    /// <summary>The verdict on every write, given how many copies of each key <paramref name="database"/> holds.</summary>
    internal WriteLedgerResult Judge(IReadOnlyDictionary<string, long> copies, long checkedTimestamp, string? database, string? endpoint = null)
    {
        var writes = Writes;
        var violations = new List<LedgerViolation>();
        int applied = 0, notApplied = 0;
        foreach (var write in writes)
        {
            var outcome = write.Outcome;
            var found = copies.GetValueOrDefault(write.Key);
            LedgerViolationKind? kind = outcome switch
            {
                WriteOutcome.Pending => LedgerViolationKind.Unresolved,
                _ when found > 1 => LedgerViolationKind.Duplicated,
                WriteOutcome.Acknowledged when found == 0 => LedgerViolationKind.Lost,
                WriteOutcome.Failed when found > 0 => LedgerViolationKind.FailedButApplied,
                _ => null,
            };
            if (outcome == WriteOutcome.Unknown && kind is null)
            {
                _ = found == 1 ? applied++ : notApplied++;
            }

            if (kind is { } violated)
            {
                var ended = outcome == WriteOutcome.Pending ? checkedTimestamp : write.EndedTimestamp;
                violations.Add(new LedgerViolation(violated, write, found, LedgerTimeline.Around(write.BeganTimestamp, ended, FaultWindow, database, endpoint)));
            }
        }

        return new WriteLedgerResult(writes, violations, applied, notApplied);
    }
}
