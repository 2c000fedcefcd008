using TestDbKit.Benchmarks;
using TestDbKit.Faults;

namespace TestDbKit.Tests.Soak;

/// <summary>The soak's schedule replays from its seed, whatever the engine or provider, and each round of it meets
/// every kind of the catalogue once.</summary>
public sealed class SoakScheduleTests
{
    [Fact]
    public void The_same_seed_gives_the_same_schedule_on_any_engine_and_provider_and_every_round_holds_every_kind()
    {
        var options = new SoakOptions { Seed = 18 };
        var kinds = FaultCatalogue.All.Select(k => k.Name).Order(StringComparer.Ordinal).ToList();
        var plan = Plan(options, rounds: 3);

        Assert.Equal(plan, Plan(options with { Engine = DbEngine.MySql, Provider = DbServerProvider.Docker }, rounds: 3));
        Assert.NotEqual(plan, Plan(options with { Seed = 19 }, rounds: 3));
        Assert.Equal(SoakSchedule.Fingerprint(options), SoakSchedule.Fingerprint(options with { Engine = DbEngine.MySql }));
        Assert.NotEqual(SoakSchedule.Fingerprint(options), SoakSchedule.Fingerprint(options with { Seed = 19 }));
        var faults = SoakSchedule.Plan(options).Take(kinds.Count * 3).ToList();
        Assert.All(faults.Chunk(kinds.Count), round => Assert.Equal(kinds, round.Select(f => f.Kind.Name).Order(StringComparer.Ordinal)));
        Assert.All(faults, f => Assert.Equal(f.Kind.Lasting, f.Hold > TimeSpan.Zero));
    }

    private static List<string> Plan(SoakOptions options, int rounds) =>
        [.. SoakSchedule.Plan(options).Take(FaultCatalogue.All.Count * rounds).Select(f => f.ToString())];
}
