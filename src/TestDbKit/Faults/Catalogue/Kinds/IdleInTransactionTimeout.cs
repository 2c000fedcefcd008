using System.Globalization;
using TestDbKit.Engines;

namespace TestDbKit.Faults;

/// <summary>"idle-in-transaction": the server closes sessions that stay idle inside a transaction longer than the
/// timeout (PostgreSQL <c>idle_in_transaction_session_timeout</c>; MariaDB <c>idle_transaction_timeout</c>; MySQL 8
/// has none, so its nearest, <c>wait_timeout</c>; per database).</summary>
internal sealed class IdleInTransactionTimeout : TimeoutFault
{
    public override string Name => "idle-in-transaction";

    public override string Summary => "sessions opened meanwhile get a short idle-in-transaction timeout";

    public override FaultTargets Targets => FaultTargets.Database;

    protected override TimeoutKind Kind => TimeoutKind.IdleInTransaction;

    protected override string Effect(TimeSpan timeout) =>
        string.Create(CultureInfo.InvariantCulture, $"sessions idle in a transaction were closed after {timeout.TotalSeconds:0.###} s");
}
