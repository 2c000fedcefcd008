using TestDbKit.Engines;

namespace TestDbKit.Faults;

/// <summary>"kill-busy": ends the sessions running a statement or holding a transaction open.</summary>
internal sealed class KillBusySessions : SessionKill
{
    public override string Name => "kill-busy";

    public override string Summary => "end the sessions of the kit's databases that run a statement or hold a transaction";

    protected override SessionFilter Filter => SessionFilter.Busy;

    protected override string Doing => "kill busy sessions";
}
