using System.Globalization;

namespace TestDbKit.Benchmarks;

/// <summary>What one soak run does: the engine and provider of the server it starts, how long, the seed of its fault
/// schedule, and the workload. Shared by <c>bench soak</c> and the CI test (<c>tests/TestDbKit.Tests/Soak/</c>).</summary>
internal sealed record SoakOptions
{
    public DbEngine Engine { get; init; } = DbEngine.PostgreSql;

    public DbServerProvider Provider { get; init; } = DbServerProvider.Local;

    public TimeSpan Duration { get; init; } = TimeSpan.FromMinutes(1);

    public int Seed { get; init; } = 1;

    /// <summary>Concurrent writers, each storing keys of its own.</summary>
    public int Writers { get; init; } = 4;

    /// <summary>A writer's pause between two writes, as an application's think time: it keeps the soak from taking
    /// both cores of a CI machine, and a 30-minute ledger within memory.</summary>
    public TimeSpan ThinkTime { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>The mean pause between one fault's end and the next one's start (exponentially distributed).</summary>
    public TimeSpan MeanPause { get; init; } = TimeSpan.FromMilliseconds(300);

    /// <summary>The longest a lasting fault is held; holds are drawn uniformly from 50 ms up to this.</summary>
    public TimeSpan MaxHold { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Only these kinds (catalogue names); all of them when null.</summary>
    public IReadOnlyList<string>? Kinds { get; init; }

    /// <summary>The writers' mistake that proves the check can fail: a retry inserts a new row (a new surrogate key)
    /// instead of the same key, so a write whose COMMIT's reply was lost is applied twice.</summary>
    public bool BlindRetry { get; init; }

    /// <summary>Reads <c>soak --engine E --minutes N --seed S [--seconds N] [--provider local|docker] [--writers N]
    /// [--kinds a,b] [--blind-retry]</c>; throws <see cref="ArgumentException"/> saying what is wrong.</summary>
    public static SoakOptions Parse(IReadOnlyList<string> args)
    {
        var options = new SoakOptions();
        for (var i = 1; i < args.Count; i++)
        {
            var name = args[i];
            if (name == "--blind-retry")
            {
                options = options with { BlindRetry = true };
                continue;
            }

            var value = i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{name} needs a value.");
            options = name switch
            {
                "--engine" => options with { Engine = Enum.TryParse<DbEngine>(value, ignoreCase: true, out var e) ? e : throw Bad(name, value, "postgresql or mysql") },
                "--provider" => options with { Provider = value.ToLowerInvariant() switch { "local" => DbServerProvider.Local, "docker" => DbServerProvider.Docker, _ => throw Bad(name, value, "local or docker") } },
                "--minutes" => options with { Duration = TimeSpan.FromMinutes(Number(name, value)) },
                "--seconds" => options with { Duration = TimeSpan.FromSeconds(Number(name, value)) },
                "--seed" => options with { Seed = int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var s) ? s : throw Bad(name, value, "an integer") },
                "--writers" => options with { Writers = (int)Number(name, value) },
                "--kinds" => options with { Kinds = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) },
                _ => throw new ArgumentException($"Unknown option '{name}'. Known: --engine, --provider, --minutes, --seconds, --seed, --writers, --kinds, --blind-retry."),
            };
        }

        return options;

        static double Number(string name, string value) =>
            double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw Bad(name, value, "a number above zero");

        static ArgumentException Bad(string name, string value, string expected) => new($"{name} '{value}' is not {expected}.");
    }

    /// <summary>The command line that replays this run.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"soak --engine {Engine.ToString().ToLowerInvariant()} --provider {Provider.ToString().ToLowerInvariant()} --seconds {Duration.TotalSeconds:0} --seed {Seed} --writers {Writers}")
        + (Kinds is null ? "" : " --kinds " + string.Join(',', Kinds)) + (BlindRetry ? " --blind-retry" : "");
}
