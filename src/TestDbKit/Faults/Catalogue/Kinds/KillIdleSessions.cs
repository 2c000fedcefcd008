using TestDbKit.Engines;

namespace TestDbKit.Faults;

/// <summary>"kill-idle": ends the idle sessions (connected, no statement, no transaction): those resting in a
/// driver's pool.</summary>
internal sealed class KillIdleSessions : SessionKill
{
    public override string Name => "kill-idle";

    public override string Summary => "end the idle (pooled) sessions of the kit's databases";

    protected override SessionFilter Filter => SessionFilter.Idle;

    protected override string Doing => "kill idle sessions";
}
