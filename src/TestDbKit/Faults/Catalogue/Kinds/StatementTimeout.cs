using System.Globalization;
using TestDbKit.Engines;

namespace TestDbKit.Faults;

/// <summary>"statement-timeout": the server cancels statements that run longer than the timeout (PostgreSQL
/// <c>statement_timeout</c>; MariaDB <c>max_statement_time</c>, MySQL 8 <c>max_execution_time</c>, SELECT only,
/// through the kit's settings hook; all per database).</summary>
internal sealed class StatementTimeout : TimeoutFault
{
    public override string Name => "statement-timeout";

    public override string Summary => "statements of sessions opened meanwhile are cancelled after a short time";

    public override FaultTargets Targets => FaultTargets.Database;

    protected override TimeoutKind Kind => TimeoutKind.Statement;

    protected override string Effect(TimeSpan timeout) =>
        string.Create(CultureInfo.InvariantCulture, $"statements were cancelled after {timeout.TotalSeconds:0.###} s");
}
