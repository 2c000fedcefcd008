using System.Collections.Concurrent;
using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using TestDbKit.Engines;

namespace TestDbKit.Benchmarks;

/// <summary>
/// The soak's workload: writers storing keys of their own through the kit's network proxy, each write recorded in a
/// <see cref="WriteLedger"/>. A transient error (or an attempt's timeout) is retried as "insert if absent": the same
/// key, which the table's primary key refuses a second time, so a retry after a COMMIT whose reply was lost finds the
/// key present and the write is done, never applied twice. <see cref="SoakOptions.BlindRetry"/> makes each attempt a
/// new row instead (the mistake the ledger must catch).
/// </summary>
internal sealed class SoakWriters
{
    public const string Table = "soak_writes";

    public const string Schema = $"CREATE TABLE {Table} (k VARCHAR(64) NOT NULL, attempt INT NOT NULL, writer INT NOT NULL, PRIMARY KEY (k, attempt))";

    /// <summary>The keys present and their copies, for the ledger's check.</summary>
    public const string Stored = $"SELECT k, COUNT(*) FROM {Table} GROUP BY k";

    /// <summary>One attempt's limit: a frozen server or a stalled proxy fails the attempt, which is retried.</summary>
    private static readonly TimeSpan AttemptTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long a write keeps retrying before its outcome is recorded as the last error implies (unknown):
    /// longer than any fault of the schedule plus a crash's restart.</summary>
    private static readonly TimeSpan WriteDeadline = TimeSpan.FromSeconds(60);

    private readonly EngineDialect _dialect;
    private readonly string _connectionString;
    private readonly WriteLedger _ledger;
    private readonly SoakRecovery _recovery;
    private readonly bool _blind;
    private readonly TimeSpan _thinkTime;
    private readonly DbConnection?[] _current;
    private readonly ConcurrentDictionary<string, int> _errors = new(StringComparer.Ordinal);
    private int _retries;
    private int _foundStored;
    private long _acknowledged;

    public SoakWriters(EngineDialect dialect, string proxiedConnectionString, WriteLedger ledger, SoakRecovery recovery, SoakOptions options)
    {
        var (writers, blind) = (options.Writers, options.BlindRetry);
        _thinkTime = options.ThinkTime;
        _dialect = dialect;
        // Pooled, as an application's; a short connect timeout so a refused or frozen server fails an attempt quickly.
        var builder = dialect.CreateBuilder(dialect.ForProbe(proxiedConnectionString, TimeSpan.FromSeconds(3)));
        builder["Pooling"] = true;
        _connectionString = builder.ConnectionString;
        _ledger = ledger;
        _recovery = recovery;
        _blind = blind;
        _current = new DbConnection?[writers];
    }

    public string ConnectionString => _connectionString;

    public int Retries => Volatile.Read(ref _retries);

    /// <summary>Retries that found their key stored already: an earlier attempt's COMMIT was applied and its reply
    /// lost (the ambiguous commit, or a connection lost just after a COMMIT), resolved without a second copy.</summary>
    public int FoundStored => Volatile.Read(ref _foundStored);

    public long AcknowledgedCount => Interlocked.Read(ref _acknowledged);

    /// <summary>The errors the writers met, by type, kind and first words of the message, with how many.</summary>
    public IReadOnlyDictionary<string, int> Errors => _errors;

    /// <summary>Runs every writer until <paramref name="stop"/>; a write in flight finishes (or runs out of retries) first.</summary>
    public Task RunAsync(CancellationToken stop) =>
        Task.WhenAll(Enumerable.Range(0, _current.Length).Select(w => Task.Run(() => WriteAsync(w, stop), CancellationToken.None)));

    /// <summary>An open connection of <paramref name="writer"/> (or of any writer, if it has none for a while), for a
    /// fault aimed at one session; null if no writer holds one.</summary>
    public async Task<DbConnection?> ConnectionOfAsync(int writer, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(2))
        {
            var preferred = clock.Elapsed < TimeSpan.FromSeconds(1) ? [writer] : Enumerable.Range(0, _current.Length);
            foreach (var w in preferred)
            {
                if (Volatile.Read(ref _current[w]) is { State: System.Data.ConnectionState.Open } open)
                {
                    return open;
                }
            }

            await Task.Delay(2, ct).ConfigureAwait(false);
        }

        return null;
    }

    private async Task WriteAsync(int writer, CancellationToken stop)
    {
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            if (i > 0)
            {
                await Task.Delay(_thinkTime, CancellationToken.None).ConfigureAwait(false);
            }

            var key = string.Create(CultureInfo.InvariantCulture, $"w{writer}-{i}");
            var write = _ledger.Begin(key);
            var began = Stopwatch.GetTimestamp();
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    await AttemptAsync(writer, key, _blind ? attempt : 0).ConfigureAwait(false);
                    Acknowledge(write);
                    break;
                }
                catch (Exception e) when (!_blind && attempt > 1 && DbErrors.IsIntegrityViolation(e))
                {
                    Interlocked.Increment(ref _foundStored);
                    Acknowledge(write); // an earlier attempt committed and its reply was lost: the key is there, once
                    break;
                }
                catch (Exception e) when (Retryable(e) && Stopwatch.GetElapsedTime(began) < WriteDeadline)
                {
                    Count(e);
                    Interlocked.Increment(ref _retries);
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(500, 10 << Math.Min(attempt, 6))), CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    Count(e);
                    write.Classify(e);
                    break;
                }
            }
        }
    }

    private void Acknowledge(LedgerWrite write)
    {
        write.Acknowledged();
        Interlocked.Increment(ref _acknowledged);
        _recovery.Acknowledged(Stopwatch.GetTimestamp());
    }

    /// <summary>Worth another attempt: what the kit calls transient, and an attempt that ran out of time (its
    /// outcome is unknown, so the retry is the idempotent one).</summary>
    private static bool Retryable(Exception e) =>
        DbErrors.IsTransient(e) || e is OperationCanceledException or TimeoutException || e.InnerException is TimeoutException;

    private void Count(Exception e)
    {
        var message = e.Message.Split('\n')[0].Trim();
        var name = $"{e.GetType().Name} [{DbErrors.Classify(e)}]: {(message.Length > 90 ? message[..90] + "..." : message)}";
        _errors.AddOrUpdate(name, 1, (_, n) => n + 1);
    }

    private async Task AttemptAsync(int writer, string key, int attempt)
    {
        using var timeout = new CancellationTokenSource(AttemptTimeout);
        var connection = _dialect.CreateConnection(_connectionString);
        await using (connection.ConfigureAwait(false))
        {
            await connection.OpenAsync(timeout.Token).ConfigureAwait(false);
            Volatile.Write(ref _current[writer], connection);
            try
            {
                var transaction = await connection.BeginTransactionAsync(timeout.Token).ConfigureAwait(false);
                await using (transaction.ConfigureAwait(false))
                {
                    var command = connection.CreateCommand();
                    await using (command.ConfigureAwait(false))
                    {
                        command.Transaction = transaction;
                        command.CommandTimeout = (int)AttemptTimeout.TotalSeconds;
                        command.CommandText = $"INSERT INTO {Table} (k, attempt, writer) VALUES (@k, @a, @w)";
                        Add(command, "@k", key);
                        Add(command, "@a", attempt);
                        Add(command, "@w", writer);
                        await command.ExecuteNonQueryAsync(timeout.Token).ConfigureAwait(false);
                    }

                    await transaction.CommitAsync(timeout.Token).ConfigureAwait(false);
                }
            }
            finally
            {
                Volatile.Write(ref _current[writer], null);
            }
        }
    }

    private static void Add(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }
}

/// <summary>Recovery times: from each fault's end until the next acknowledged write, whichever writer's.</summary>
internal sealed class SoakRecovery
{
    private readonly Lock _gate = new();
    private readonly List<long> _waiting = [];
    private readonly List<double> _milliseconds = [];
    private long _lastAcknowledged;

    public long LastAcknowledged => Interlocked.Read(ref _lastAcknowledged);

    public IReadOnlyList<double> Milliseconds
    {
        get
        {
            lock (_gate)
            {
                return [.. _milliseconds];
            }
        }
    }

    /// <summary>Faults whose end no acknowledged write has followed yet.</summary>
    public int Unrecovered
    {
        get
        {
            lock (_gate)
            {
                return _waiting.Count;
            }
        }
    }

    public void FaultEnded(long timestamp)
    {
        lock (_gate)
        {
            _waiting.Add(timestamp);
        }
    }

    public void Acknowledged(long timestamp)
    {
        Interlocked.Exchange(ref _lastAcknowledged, timestamp);
        lock (_gate)
        {
            _waiting.RemoveAll(ended =>
            {
                if (ended > timestamp)
                {
                    return false;
                }

                _milliseconds.Add(Stopwatch.GetElapsedTime(ended, timestamp).TotalMilliseconds);
                return true;
            });
        }
    }
}
