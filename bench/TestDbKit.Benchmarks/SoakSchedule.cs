using System.Globalization;
using TestDbKit.Faults;

namespace TestDbKit.Benchmarks;

/// <summary>One planned fault of a soak: the pause before it, the kind, how long a lasting one is held, and which
/// writer a fault on one session aims at.</summary>
internal readonly record struct SoakFault(int Index, TimeSpan Pause, FaultKind Kind, TimeSpan Hold, int Writer)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"#{Index,-4} +{Pause.TotalMilliseconds,5:0} ms  {Kind.Name}{(Kind.Lasting ? $" for {Hold.TotalMilliseconds:0} ms" : "")}{(SoakFaults.AimsAtAWriter(Kind) ? $" (writer {Writer})" : "")}");
}

/// <summary>
/// The soak's seeded schedule: rounds, each a shuffle of every kind (so a run long enough for one round has met every
/// kind, which ChaosPlanner's independent draws do not promise), pauses drawn from an exponential distribution, holds
/// uniformly. Every draw happens whatever the kind: a seed gives the same schedule on any server and provider.
/// </summary>
internal static class SoakSchedule
{
    private static readonly TimeSpan MinimumHold = TimeSpan.FromMilliseconds(50);

    /// <summary>The kinds a soak injects: the catalogue's, or those <paramref name="names"/> names.</summary>
    public static IReadOnlyList<FaultKind> Kinds(IReadOnlyList<string>? names)
    {
        if (names is null)
        {
            return FaultCatalogue.All;
        }

        return [.. names.Select(n => FaultCatalogue.Find(n)
            ?? throw new ArgumentException($"No fault kind is named '{n}'. Known: {string.Join(", ", FaultCatalogue.All.Select(k => k.Name))}."))];
    }

    /// <summary>The endless schedule of <paramref name="options"/>.</summary>
    public static IEnumerable<SoakFault> Plan(SoakOptions options)
    {
        var kinds = Kinds(options.Kinds).OrderBy(k => k.Name, StringComparer.Ordinal).ToArray();
        var random = new Random(options.Seed);
        var maxHold = Math.Max(MinimumHold.TotalMilliseconds, options.MaxHold.TotalMilliseconds);
        for (var index = 0; ; )
        {
            var round = kinds.ToArray();
            random.Shuffle(round);
            foreach (var kind in round)
            {
                var pause = TimeSpan.FromMilliseconds(-Math.Log(1 - random.NextDouble()) * options.MeanPause.TotalMilliseconds);
                var hold = TimeSpan.FromMilliseconds(MinimumHold.TotalMilliseconds + (random.NextDouble() * (maxHold - MinimumHold.TotalMilliseconds)));
                var writer = random.Next(options.Writers);
                yield return new SoakFault(++index, pause, kind, kind.Lasting ? hold : TimeSpan.Zero, writer);
            }
        }
    }

    /// <summary>A fingerprint of the first <paramref name="count"/> faults: two runs with the same one ran the same schedule.</summary>
    public static string Fingerprint(SoakOptions options, int count = 1000)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        foreach (var fault in Plan(options).Take(count))
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(fault.ToString()));
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset())[..16];
    }
}
