using System.Diagnostics;
using System.Globalization;
using TestDbKit.Diagnostics;
using TestDbKit.Faults;

namespace TestDbKit;

/// <summary>A fault a <see cref="ChaosSchedule"/> can inject: the public name of a kind of the kit's fault
/// catalogue, which says what it does, how it is undone and how it is spelled in logs and reports.</summary>
public enum ChaosFault
{
    /// <summary>Every session of the test's database is killed (idle pooled ones too).</summary>
    KillSessions,

    /// <summary>Every connection through the network proxy is reset.</summary>
    NetworkReset,

    /// <summary>Latency is added on the network proxy for a while.</summary>
    NetworkLatency,

    /// <summary>All traffic through the proxy is held for a while.</summary>
    NetworkStall,

    /// <summary>The server is killed and restarted (needs a server of the test's own).</summary>
    CrashServer,

    /// <summary>The server is frozen for a while (needs a server of the test's own).</summary>
    FreezeServer,
}

/// <summary>How a <see cref="ChaosSchedule"/> picks its faults.</summary>
public sealed class ChaosOptions
{
    /// <summary>The seed: the same seed gives the same faults, in the same order, with the same pauses.
    /// Default: <c>TESTDBKIT_CHAOS_SEED</c> when set, else a random one (printed, to replay a failure).</summary>
    public int? Seed { get; init; }

    /// <summary>The faults to choose from. Default: the ones that need no server of the test's own.</summary>
    public IReadOnlyList<ChaosFault> Faults { get; init; } = [ChaosFault.KillSessions, ChaosFault.NetworkReset, ChaosFault.NetworkLatency, ChaosFault.NetworkStall];

    /// <summary>The mean pause between faults (pauses are drawn from an exponential distribution). Default 300 ms.</summary>
    public TimeSpan MeanInterval { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>The longest a lasting fault (latency, stall, freeze) lasts; a lasting fault is held for at least
    /// 10 ms, or this when it is shorter (the same rule as <c>testdbkit chaos --max-hold</c>). Default 200 ms.</summary>
    public TimeSpan MaxDuration { get; init; } = TimeSpan.FromMilliseconds(200);
}

/// <summary>One fault a schedule injected, or planned to.</summary>
/// <param name="At">When, from the start of the schedule (planned: the pause before it).</param>
/// <param name="Fault">Which fault.</param>
/// <param name="Duration">How long it lasted (zero for instant faults).</param>
/// <param name="Error">Why injecting it failed, if it did.</param>
public sealed record ChaosEvent(TimeSpan At, ChaosFault Fault, TimeSpan Duration, string? Error = null)
{
    /// <summary>The fault's name in the kit's fault catalogue: the spelling of logs, reports and <c>testdbkit chaos</c>.</summary>
    public string Kind => FaultCatalogue.Find(Fault)?.Name ?? Fault.ToString();

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{At.TotalMilliseconds,8:0} ms  {Kind}{(Duration > TimeSpan.Zero ? $" for {Duration.TotalMilliseconds:0} ms" : "")}{(Error is null ? "" : $"  (failed: {Error})")}");
}

/// <summary>
/// Seeded random faults in the background while a test body runs, for chaos runs in CI. Records each fault
/// with its time; <see cref="Seed"/> (printed at start) replays the same schedule. Dispose it to stop; a
/// lasting fault still active is undone.
/// </summary>
/// <example>
/// <code>
/// await using (var chaos = ChaosSchedule.Start(Database.Faults))
/// {
///     await workload(); // the code under test, with its retry policy
/// }
/// </code>
/// </example>
public sealed class ChaosSchedule : IAsyncDisposable
{
    private readonly FaultInjector _faults;
    private readonly ChaosOptions _options;
    private readonly IReadOnlyList<FaultKind> _kinds;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<ChaosEvent> _events = [];
    private readonly Task _loop;
    private readonly long _started = Stopwatch.GetTimestamp();

    private ChaosSchedule(FaultInjector faults, ChaosOptions options, int seed)
    {
        _faults = faults;
        _options = options;
        _kinds = KindsOf(options);
        Seed = seed;
        _loop = Task.Run(() => RunAsync(_stop.Token));
    }

    /// <summary>The seed of this schedule: set <c>TESTDBKIT_CHAOS_SEED</c> to it to replay the run.</summary>
    public int Seed { get; }

    /// <summary>The faults injected so far.</summary>
    public IReadOnlyList<ChaosEvent> Events
    {
        get
        {
            lock (_events)
            {
                return [.. _events];
            }
        }
    }

    /// <summary>Starts injecting faults on <paramref name="faults"/>' database in the background.</summary>
    /// <param name="faults">The test database's fault injector.</param>
    /// <param name="options">Which faults and how often; defaults when null.</param>
    public static ChaosSchedule Start(FaultInjector faults, ChaosOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(faults);
        options ??= new ChaosOptions();
        if (options.Faults.Count == 0 || options.MeanInterval <= TimeSpan.Zero || options.MaxDuration <= TimeSpan.Zero)
        {
            throw new ArgumentException("A chaos schedule needs at least one fault, and a mean interval and a maximum duration above zero.", nameof(options));
        }

        KindsOf(options); // an unknown fault fails here, not in the background

        var seed = options.Seed ?? SeedFromEnvironment() ?? Random.Shared.Next();
        faults.Database.Say(string.Create(CultureInfo.InvariantCulture, $"chaos schedule seed {seed} (replay: {Options.KitEnvironment.ChaosSeed}={seed})"));
        RunLog.Seed(seed, nameof(ChaosSchedule));
        return new ChaosSchedule(faults, options, seed);
    }

    /// <summary>The seed a run replays: <c>TESTDBKIT_CHAOS_SEED</c>, for schedules in tests and for <c>testdbkit chaos</c>.</summary>
    internal static int? SeedFromEnvironment() => Options.KitEnvironment.ChaosSeedValue;

    /// <summary>The first <paramref name="count"/> faults a schedule with this seed injects, and the pause
    /// before each, without injecting anything.</summary>
    public static IReadOnlyList<ChaosEvent> Plan(int seed, ChaosOptions options, int count)
    {
        ArgumentNullException.ThrowIfNull(options);
        var kinds = KindsOf(options);
        return [.. ChaosPlanner.Plan(seed, kinds, options.MeanInterval, options.MaxDuration).Take(count).Select(p => new ChaosEvent(p.Pause, p.Kind.Chaos!.Value, p.Hold))];
    }

    /// <summary>Stops injecting, undoes a lasting fault still active, and returns what was injected.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped mid-pause or mid-fault.
        }

        _stop.Dispose();
    }

    /// <summary>The seed and every fault, one a line.</summary>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"chaos seed {Seed}, {Events.Count} fault(s):\n") + string.Join("\n", Events);

    /// <summary>The catalogue's kinds for <paramref name="options"/>' faults; each must be one a test database can take.</summary>
    private static List<FaultKind> KindsOf(ChaosOptions options)
    {
        var kinds = options.Faults.Select(FaultCatalogue.For).ToList();
        if (kinds.FirstOrDefault(k => !k.Targets.HasFlag(FaultTargets.Database)) is { } unfit)
        {
            throw new ArgumentException($"The '{unfit.Name}' fault cannot be injected into a test database by a schedule.", nameof(options));
        }

        return kinds;
    }

    private async Task RunAsync(CancellationToken ct)
    {
        using var plan = ChaosPlanner.Plan(Seed, _kinds, _options.MeanInterval, _options.MaxDuration).GetEnumerator();
        while (!ct.IsCancellationRequested && plan.MoveNext())
        {
            var next = plan.Current;
            var planned = new ChaosEvent(next.Pause, next.Kind.Chaos!.Value, next.Hold);
            await Task.Delay(planned.At, ct).ConfigureAwait(false);
            var at = Stopwatch.GetElapsedTime(_started);
            string? error = null;
            try
            {
                await next.Kind.RunAsync(_faults.Target, next.Hold, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                error = e.Message;
            }

            lock (_events)
            {
                _events.Add(planned with { At = at, Error = error });
            }
        }
    }
}
