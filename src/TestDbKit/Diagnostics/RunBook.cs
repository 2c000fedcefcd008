using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace TestDbKit.Diagnostics;

/// <summary>
/// One book of what happened: tests ended, faults injected, client errors by classification, recoveries,
/// chaos seeds. The process keeps one (<see cref="RunLog"/>); a <see cref="RunScope"/> keeps another with only
/// what happened on its own async flow, so a test can count exactly what it did while others run beside it.
/// </summary>
internal sealed class RunBook
{
    private const int MaxFaults = 10_000;
    private const int MaxKept = 5_000;
    private const int MaxLeakReports = 100;

    private readonly ConcurrentQueue<FaultEvent> _faults = new();
    private readonly ConcurrentDictionary<string, int> _faultCounts = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<RunError> _errors = new();
    private readonly ConcurrentDictionary<string, int> _errorCounts = new(StringComparer.Ordinal);
    private readonly ConditionalWeakTable<Exception, object> _counted = [];
    private readonly ConcurrentQueue<RunRecovery> _recoveries = new();
    private readonly ConcurrentQueue<RunSeed> _seeds = new();
    private readonly ConcurrentQueue<string> _leaks = new();
    private int _tests;
    private int _discarded;
    private int _leaked;

    /// <summary>When the book was opened.</summary>
    public long StartedTimestamp { get; } = Stopwatch.GetTimestamp();

    /// <summary>When the book was opened, wall clock.</summary>
    public DateTimeOffset Started { get; } = DateTimeOffset.UtcNow;

    public int Tests => _tests;

    public int DiscardedConnections => _discarded;

    public int LeakedConnections => _leaked;

    /// <summary>The faults kept (the last 10,000).</summary>
    public IReadOnlyList<FaultEvent> Faults => [.. _faults];

    /// <summary>How many faults of each kind were recorded; exact even when old events were dropped.</summary>
    public IReadOnlyDictionary<string, int> FaultCounts => new Dictionary<string, int>(_faultCounts, StringComparer.Ordinal);

    public IReadOnlyList<RunError> Errors => [.. _errors];

    public IReadOnlyDictionary<string, int> ErrorCounts => new Dictionary<string, int>(_errorCounts, StringComparer.Ordinal);

    public IReadOnlyList<RunRecovery> Recoveries => [.. _recoveries];

    public IReadOnlyList<RunSeed> Seeds => [.. _seeds];

    /// <summary>What each test that leaked connections left, by test name (the first hundred).</summary>
    public IReadOnlyList<string> Leaks => [.. _leaks];

    public void Fault(FaultEvent fault)
    {
        _faults.Enqueue(fault);
        _faultCounts.AddOrUpdate(fault.Kind, 1, (_, n) => n + 1);
        while (_faults.Count > MaxFaults && _faults.TryDequeue(out _))
        {
            // Bounded in long chaos runs; the counts stay exact.
        }
    }

    /// <summary>Counts <paramref name="error"/> once per exception object; false when this book had it already.</summary>
    public bool Error(Exception error, RunError entry)
    {
        if (!_counted.TryAdd(error, _counted))
        {
            return false;
        }

        _errorCounts.AddOrUpdate(entry.Classification, 1, (_, n) => n + 1);
        Keep(_errors, entry);
        return true;
    }

    public void Recovery(RunRecovery recovery) => Keep(_recoveries, recovery);

    public void Seed(RunSeed seed) => _seeds.Enqueue(seed);

    public void TestEnded(bool connectionDiscarded, int leakedConnections, string? leakReport)
    {
        Interlocked.Increment(ref _tests);
        if (connectionDiscarded)
        {
            Interlocked.Increment(ref _discarded);
        }

        Interlocked.Add(ref _leaked, leakedConnections);
        if (leakReport is not null && _leaks.Count < MaxLeakReports)
        {
            _leaks.Enqueue(leakReport); // by test name: xunit v2 shows a test's console output nowhere
        }
    }

    private static void Keep<T>(ConcurrentQueue<T> queue, T item)
    {
        queue.Enqueue(item);
        while (queue.Count > MaxKept && queue.TryDequeue(out _))
        {
            // Bounded in long chaos runs; the counts stay exact.
        }
    }
}

/// <summary>
/// A book of what happens on one async flow (a test, an operation under <see cref="Resilience"/>) and the flows
/// it starts (a chaos schedule started inside it, tasks it runs), while it is open. Scopes nest: an event is
/// written into every open scope of the flow it happens on, and into the process's book. Another test's
/// activity, on its own flow, never reaches this scope.
/// </summary>
/// <example>
/// <code>
/// using var scope = RunScope.Begin();
/// await db.Faults.KillSessionAsync(connection);
/// ...
/// Assert.Equal(1, scope.Capture().FaultsByKind["kill-session"]);
/// </code>
/// </example>
internal sealed class RunScope : IDisposable
{
    private static readonly AsyncLocal<RunScope?> CurrentScope = new();
    private readonly RunScope? _parent;
    private volatile bool _closed;

    private RunScope(RunScope? parent) => _parent = parent;

    /// <summary>What this scope recorded.</summary>
    public RunBook Book { get; } = new();

    /// <summary>Opens a scope on the calling flow; dispose it on the same flow to close it.</summary>
    public static RunScope Begin()
    {
        var scope = new RunScope(CurrentScope.Value);
        CurrentScope.Value = scope;
        return scope;
    }

    /// <summary>The report of what happened in this scope so far.</summary>
    public RunReport Capture() => RunReport.Capture(Book);

    /// <summary>Stops recording into this scope (also on flows it started that outlive it).</summary>
    public void Dispose()
    {
        _closed = true;
        if (ReferenceEquals(CurrentScope.Value, this))
        {
            CurrentScope.Value = _parent;
        }
    }

    /// <summary>The open scopes of the calling flow, innermost first.</summary>
    public static IEnumerable<RunBook> OpenBooks()
    {
        for (var scope = CurrentScope.Value; scope is not null; scope = scope._parent)
        {
            if (!scope._closed)
            {
                yield return scope.Book;
            }
        }
    }
}
