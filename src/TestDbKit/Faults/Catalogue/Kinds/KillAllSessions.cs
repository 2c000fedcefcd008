using TestDbKit.Engines;

namespace TestDbKit.Faults;

/// <summary>"kill": ends every session of the database(s), idle pooled ones too (the production "server has
/// gone away" case), never the kit's own.</summary>
internal sealed class KillAllSessions : SessionKill
{
    public override string Name => "kill";

    public override string Summary => "end every session of the kit's databases";

    public override ChaosFault? Chaos => ChaosFault.KillSessions;

    protected override SessionFilter Filter => SessionFilter.All;

    protected override string Doing => "kill all sessions";
}
