namespace TestDbKit.Faults;

/// <summary>One planned fault: the pause before it, which, and how long it is held (zero for an instant one).</summary>
internal readonly record struct PlannedFault(TimeSpan Pause, FaultKind Kind, TimeSpan Hold);

/// <summary>
/// The one schedule generator, for <see cref="ChaosSchedule"/> and <c>testdbkit chaos</c> alike: pauses drawn
/// from an exponential distribution around the mean interval, a kind drawn uniformly, and a hold drawn uniformly
/// between <see cref="MinimumHold"/> and the maximum for lasting kinds. Every draw happens whatever the kind, so a
/// seed gives the same sequence of kinds and pauses on any server.
/// </summary>
internal static class ChaosPlanner
{
    /// <summary>The shortest hold of a lasting fault: 10 ms (or the maximum, when that is shorter).</summary>
    public static readonly TimeSpan MinimumHold = TimeSpan.FromMilliseconds(10);

    /// <summary>The plan of <paramref name="seed"/>, endless.</summary>
    public static IEnumerable<PlannedFault> Plan(int seed, IReadOnlyList<FaultKind> kinds, TimeSpan meanInterval, TimeSpan maxHold)
    {
        var random = new Random(seed);
        while (true)
        {
            yield return Next(random, kinds, meanInterval, maxHold);
        }
    }

    public static PlannedFault Next(Random random, IReadOnlyList<FaultKind> kinds, TimeSpan meanInterval, TimeSpan maxHold)
    {
        ArgumentNullException.ThrowIfNull(random);
        ArgumentOutOfRangeException.ThrowIfZero(kinds.Count);
        var pause = TimeSpan.FromMilliseconds(-Math.Log(1 - random.NextDouble()) * meanInterval.TotalMilliseconds);
        var kind = kinds[random.Next(kinds.Count)];
        var max = Math.Max(1, (int)Math.Min(int.MaxValue - 1, maxHold.TotalMilliseconds));
        var min = Math.Min((int)MinimumHold.TotalMilliseconds, max);
        var hold = TimeSpan.FromMilliseconds(random.Next(min, max + 1));
        return new PlannedFault(pause, kind, kind.Lasting ? hold : TimeSpan.Zero);
    }
}
