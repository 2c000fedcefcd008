namespace TestDbKit.Engines;

// MySqlDialect, part: a run's mark is a named lock (GET_LOCK) its session holds: any user may ask whether a name is
// locked, and the server releases it when the session ends. (The processlist shows no application name.)
internal sealed partial class MySqlDialect
{
    public override string? TakeRunMarkSql(string runId) => $"SELECT GET_LOCK({Literal(RunMarkName(runId))}, 0)";

    public override string RunMarkHeldSql(string runId) => $"SELECT IS_USED_LOCK({Literal(RunMarkName(runId))}) IS NOT NULL";

    public override string ServerUptimeSql => "SHOW GLOBAL STATUS LIKE 'Uptime'";
}
