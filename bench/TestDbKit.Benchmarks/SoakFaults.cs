using System.Diagnostics;
using System.Globalization;
using TestDbKit.Faults;

namespace TestDbKit.Benchmarks;

/// <summary>What happened to one kind over a soak.</summary>
internal sealed class SoakKindTally
{
    public int Injected { get; set; }

    public int NotInjected { get; set; }

    public int UndoFailed { get; set; }

    public string? LastError { get; set; }
}

/// <summary>
/// Injects the soak's faults one after another into the soak's database through the kit's own paths: the catalogue's
/// generic path for what a schedule can drive, the <see cref="FaultInjector"/> method for a fault on one session or a
/// table, the proxy for the network kinds. Each lasting fault is held for its planned hold and undone; its end is
/// what a recovery time counts from.
/// </summary>
internal sealed class SoakFaults(TestDatabase db, SoakWriters writers, SoakRecovery recovery, TextWriter output)
{
    /// <summary>A bandwidth limit that makes a write take seconds rather than milliseconds.</summary>
    private const long Bandwidth = 2048;

    /// <summary>A cut after the first couple of kilobytes of replies: during the handshake or the first statements.</summary>
    private const long CutAfter = 2048;

    private readonly SortedDictionary<string, SoakKindTally> _tallies = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, SoakKindTally> Tallies => _tallies;

    public int Injected => _tallies.Values.Sum(t => t.Injected);

    /// <summary>When the last fault ended (0: none yet).</summary>
    public long LastEnded { get; private set; }

    public static bool AimsAtAWriter(FaultKind kind) => kind is KillSession or CancelQuery;

    /// <summary>Runs the schedule until <paramref name="stop"/>; a fault in progress is held out and undone.</summary>
    public async Task RunAsync(IEnumerable<SoakFault> schedule, CancellationToken stop)
    {
        foreach (var fault in schedule)
        {
            try
            {
                await Task.Delay(fault.Pause, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            await RunAsync(fault).ConfigureAwait(false);
        }
    }

    private async Task RunAsync(SoakFault fault)
    {
        var tally = Tally(fault.Kind);
        var began = Stopwatch.GetTimestamp();
        IAsyncDisposable? undo;
        try
        {
            undo = await InjectAsync(fault).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            tally.NotInjected++;
            tally.LastError = Line(e);
            output.WriteLine($"{fault}  not injected: {tally.LastError}");
            return;
        }

        tally.Injected++;
        var left = fault.Hold - Stopwatch.GetElapsedTime(began);
        if (undo is not null && left > TimeSpan.Zero)
        {
            await Task.Delay(left).ConfigureAwait(false);
        }

        var undoing = Stopwatch.GetTimestamp();
        try
        {
            if (undo is not null)
            {
                await undo.DisposeAsync().ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            tally.UndoFailed++;
            tally.LastError = "undo: " + Line(e);
        }

        LastEnded = Stopwatch.GetTimestamp();
        recovery.FaultEnded(LastEnded);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{fault}  took {Stopwatch.GetElapsedTime(began, undoing).TotalMilliseconds:0} ms{(undo is null ? "" : $", undo {Stopwatch.GetElapsedTime(undoing, LastEnded).TotalMilliseconds:0} ms")}{(tally.LastError?.StartsWith("undo:", StringComparison.Ordinal) == true ? "  " + tally.LastError : "")}"));
    }

    private async Task<IAsyncDisposable?> InjectAsync(SoakFault fault)
    {
        var ct = CancellationToken.None; // a fault begun is finished, then undone
        switch (fault.Kind)
        {
            case KillSession:
                await OnAWriterAsync(fault, c => db.Faults.KillSessionAsync(c, ct)).ConfigureAwait(false);
                return null;
            case CancelQuery:
                await OnAWriterAsync(fault, c => db.Faults.CancelQueryAsync(c, ct)).ConfigureAwait(false);
                return null;
            case HoldLock:
                return await db.Faults.HoldLockAsync(SoakWriters.Table, ct).ConfigureAwait(false);
            case NetworkFaultKind network:
                var value = network switch { NetworkBandwidth => Bandwidth, NetworkCut => CutAfter, _ => (long?)null };
                return (await db.Faults.Network.InjectAsync(network, value, ct).ConfigureAwait(false)).Undo;
            default:
                return (await db.Faults.InjectAsync(fault.Kind, new FaultArgs(fault.Hold), ct).ConfigureAwait(false)).Undo;
        }
    }

    /// <summary>Runs a fault on one writer's open connection; a writer closes its connection after each write, so one
    /// closed between the look and the fault (the kit refuses a closed connection) is tried again on the next.</summary>
    private async Task OnAWriterAsync(SoakFault fault, Func<System.Data.Common.DbConnection, Task> inject)
    {
        for (var tries = 1; ; tries++)
        {
            var connection = await writers.ConnectionOfAsync(fault.Writer, CancellationToken.None).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"no writer held an open connection for 2 s to {fault.Kind.Name}");
            try
            {
                await inject(connection).ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (tries < 10 && e is (ArgumentException or InvalidOperationException) && connection.State != System.Data.ConnectionState.Open)
            {
                // closed meanwhile
            }
        }
    }

    private SoakKindTally Tally(FaultKind kind)
    {
        if (!_tallies.TryGetValue(kind.Name, out var tally))
        {
            _tallies[kind.Name] = tally = new SoakKindTally();
        }

        return tally;
    }

    private static string Line(Exception e)
    {
        var message = e.Message.Split('\n')[0].Trim();
        return $"{e.GetType().Name}: {(message.Length > 160 ? message[..160] + "..." : message)}";
    }
}
