using System.Data.Common;
using TestDbKit;

namespace Orders.Tests;

/// <summary>
/// The application at work while a chaos test breaks the database under it: one writer storing orders
/// through the repository, one after another, each write's outcome recorded in the kit's <see cref="WriteLedger"/>,
/// which <see cref="VerifyAsync"/> checks against the orders table. Shared by the xunit, NUnit and MSTest suites.
/// </summary>
public sealed class OrderWorkload
{
    /// <summary>Long enough for any scenario here (a restart rides on the retry policy's ~5 s of backoff); a hang
    /// fails the test instead of the run.</summary>
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    /// <summary>The orders the application stored correctly: the id of each row as the writer wrote it (a row found
    /// changed counts as lost).</summary>
    private const string StoredOrders = "SELECT id FROM orders WHERE customer = CONCAT('customer', id) AND total = id";

    private readonly List<Order> _acknowledged = [];
    private readonly WriteLedger _ledger = new();
    private readonly List<Exception> _recovered = [];
    private readonly OrderRepository _orders;
    private readonly OrderDatabaseSettings _settings;
    private long _longestWriteTicks;
    private TaskCompletionSource _progress = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A writer through the application's repository with <paramref name="settings"/>.</summary>
    public OrderWorkload(OrderDatabaseSettings settings)
    {
        _settings = settings;
        _orders = new OrderRepository(settings, e =>
        {
            lock (_recovered)
            {
                _recovered.Add(e);
            }
        });
    }

    /// <summary>The server session the application's pool hands out next (an idle pooled one when there is
    /// one), as the application would get it.</summary>
    public async Task<long> PooledSessionAsync()
    {
        await using var connection = _settings.CreateConnection();
        await connection.OpenAsync();
        return await connection.SessionIdAsync(_settings.Engine);
    }

    /// <summary>The errors the repository met and recovered from (retried, or a dead pooled connection
    /// replaced): proof that the fault reached the application.</summary>
    public IReadOnlyList<Exception> Recovered
    {
        get
        {
            lock (_recovered)
            {
                return [.. _recovered];
            }
        }
    }

    /// <summary>The longest any acknowledged write took, retries included.</summary>
    public TimeSpan LongestWrite => TimeSpan.FromTicks(Interlocked.Read(ref _longestWriteTicks));

    /// <summary>One line per kind of error recovered from, with how many, for the test output.</summary>
    public string DescribeRecoveries() =>
        $"longest write {LongestWrite.TotalMilliseconds:0} ms; {Recovered.Count} error(s) recovered from" + string.Concat(Recovered
            .GroupBy(e => $"{e.GetType().Name}: {e.Message.Split('\n')[0]}")
            .Select(g => $"\n  {g.Count()} x {g.Key}"));

    /// <summary>Creates the orders table; the schema of every database these suites lease.</summary>
    public static async Task CreateSchemaAsync(DbConnection connection)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = OrderRepository.Schema;
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>The application's connection settings for a test database.</summary>
    /// <param name="database">The test's database.</param>
    /// <param name="connectionString">Another way in (the fault proxy), or the database's own when null.</param>
    /// <param name="timeout">Connect and command timeout; short ones let a stalled network fail fast.</param>
    public static OrderDatabaseSettings Settings(TestDatabase database, string? connectionString = null, TimeSpan? timeout = null)
    {
        var settings = new OrderDatabaseSettings { Engine = database.Engine, ConnectionString = connectionString ?? database.ConnectionString };
        return timeout is { } t ? settings with { ConnectTimeout = t, CommandTimeout = t } : settings;
    }

    /// <summary>The orders the repository acknowledged so far, in order.</summary>
    public IReadOnlyList<Order> Acknowledged
    {
        get
        {
            lock (_acknowledged)
            {
                return [.. _acknowledged];
            }
        }
    }

    /// <summary>
    /// Keeps writing while <paramref name="fault"/> breaks the database: waits for <paramref name="before"/>
    /// acknowledged writes, injects the fault (the writer goes on meanwhile), then waits for
    /// <paramref name="after"/> more and stops. Throws what the writer threw, if the repository gave up.
    /// </summary>
    public async Task<IReadOnlyList<Order>> RunAsync(Func<Task> fault, int before = 10, int after = 10)
    {
        using var stop = new CancellationTokenSource();
        var writer = WriteAsync(stop.Token);
        try
        {
            await WhenWrittenAsync(before, writer);
            // From the fault to the application's first acknowledged write after it: timed, and failed with a
            // timeline of faults and errors when it takes too long (the run report lists these recoveries).
            await Resilience.AssertRecoversAsync(async _ =>
            {
                await fault();
                await WhenWrittenAsync(Acknowledged.Count + 1, writer);
            }, Patience);
            await WhenWrittenAsync(Acknowledged.Count + after, writer);
        }
        finally
        {
            await stop.CancelAsync();
        }

        await writer;
        return Acknowledged;
    }

    /// <summary>
    /// Writes <paramref name="writes"/> orders, lets <paramref name="fault"/> break the idle pooled session
    /// the application holds, and writes as many again. Returns whether the application moved to a new server
    /// session: it must, since the old one is dead (the driver's reset on checkout or the repository's
    /// validation replaces it, or a statement fails and is retried).
    /// </summary>
    public async Task<bool> MovesToANewSessionAsync(Func<Task> fault, int writes = 3)
    {
        await WriteAsync(writes);
        var before = await PooledSessionAsync();
        await Resilience.AssertRecoversAsync(async _ =>
        {
            await fault();
            await WriteAsync(writes);
        }, Patience);
        return await PooledSessionAsync() != before;
    }

    /// <summary>Writes across <paramref name="pauses"/> pauses, each twice <paramref name="idleTimeout"/> (the pause is
    /// the fault: the server ends the pooled session meanwhile); returns how many of them moved the repository to a new
    /// session, which each must.</summary>
    public async Task<int> PausesThatMovedToANewSessionAsync(TimeSpan idleTimeout, int pauses = 2)
    {
        var moved = 0;
        for (var pause = 0; pause < pauses; pause++)
        {
            moved += await MovesToANewSessionAsync(() => Task.Delay(idleTimeout * 2)) ? 1 : 0;
        }

        return moved;
    }

    /// <summary>Checks every write against the orders table read with <paramref name="settings"/> (not through a fault
    /// proxy): no acknowledged order lost or changed, none stored twice, each unknown outcome resolved. Throws
    /// <see cref="WriteLedgerException"/>, listing the offending orders with the faults around them.</summary>
    public Task<WriteLedgerResult> VerifyAsync(OrderDatabaseSettings settings) =>
        // Through the app's own retry, as its reads go: a pooled session the chaos killed fails the first read
        // (57P01, "connection lost") and is replaced. A failed check is no transient error and is not retried.
        OrderRepository.CreatePipeline().ExecuteAsync(async ct =>
        {
            await using var connection = settings.CreateConnection();
            await connection.OpenAsync(ct);
            return await _ledger.VerifyAsync(connection, StoredOrders, ct);
        }).AsTask();

    /// <summary>Waits (polling the schedule's record) until it has injected <paramref name="count"/> faults: a
    /// fault it tried to inject and could not (its event carries the error) does not count.</summary>
    public static async Task WhenInjectedAsync(ChaosSchedule chaos, int count)
    {
        var patience = System.Diagnostics.Stopwatch.StartNew();
        while (chaos.Events.Count(e => e.Error is null) < count)
        {
            if (patience.Elapsed > Patience)
            {
                throw new TimeoutException($"the chaos schedule injected fewer than {count} faults in {Patience.TotalSeconds:0} s: {chaos}");
            }

            await Task.Delay(20);
        }
    }

    /// <summary>Writes <paramref name="count"/> more orders, one after another, and waits for each.</summary>
    public async Task WriteAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            await WriteNextAsync();
        }
    }

    private async Task WriteAsync(CancellationToken stop)
    {
        await Task.Yield();
        while (!stop.IsCancellationRequested)
        {
            await WriteNextAsync();
        }
    }

    private async Task WriteNextAsync()
    {
        var id = Acknowledged.Count + 1L;
        var order = new Order(id, $"customer{id}", id);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        // Not cancelled half-way: a write in flight finishes or fails. The ledger records which, and the error goes on.
        await _ledger.RecordAsync(id.ToString(System.Globalization.CultureInfo.InvariantCulture), ct => _orders.AddAsync(order, ct), CancellationToken.None);
        var took = System.Diagnostics.Stopwatch.GetElapsedTime(started).Ticks;
        if (took > Interlocked.Read(ref _longestWriteTicks))
        {
            Interlocked.Exchange(ref _longestWriteTicks, took); // one writer: no lost update
        }

        lock (_acknowledged)
        {
            _acknowledged.Add(order);
        }

        Interlocked.Exchange(ref _progress, new(TaskCreationOptions.RunContinuationsAsynchronously)).SetResult();
    }

    private async Task WhenWrittenAsync(int count, Task writer)
    {
        using var patience = new CancellationTokenSource(Patience);
        while (Acknowledged.Count < count)
        {
            var progress = Volatile.Read(ref _progress).Task;
            if (Acknowledged.Count >= count)
            {
                break;
            }

            var done = await Task.WhenAny(progress, writer).WaitAsync(patience.Token);
            if (done == writer)
            {
                await writer; // throws the repository's error
                throw new InvalidOperationException("The writer stopped before it was asked to.");
            }
        }
    }
}
