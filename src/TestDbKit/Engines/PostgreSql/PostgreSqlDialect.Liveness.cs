namespace TestDbKit.Engines;

// PostgreSqlDialect, part: a run's mark is a session whose application name is the mark's name: every role sees
// the application names of all sessions in pg_stat_activity, and the mark goes with the session.
internal sealed partial class PostgreSqlDialect
{
    public override string? TakeRunMarkSql(string runId) => null;

    public override string RunMarkHeldSql(string runId) =>
        $"SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE application_name = '{RunMarkName(runId)}'";

    public override string ServerUptimeSql => "SELECT extract(epoch FROM clock_timestamp() - pg_catalog.pg_postmaster_start_time())::float8";
}
