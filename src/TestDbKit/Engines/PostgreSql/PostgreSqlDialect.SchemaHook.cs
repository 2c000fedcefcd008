using System.Data.Common;
using Npgsql;

namespace TestDbKit.Engines;

// PostgreSqlDialect, part: emptying a template of sessions after a schema hook (CREATE DATABASE .. TEMPLATE needs it).
internal sealed partial class PostgreSqlDialect
{
    public override string? EveryoneOnDatabaseSql(string database) =>
        $"SELECT pid, coalesce(application_name, '') FROM pg_stat_activity WHERE datname = '{Validated(database)}' " +
        "AND backend_type = 'client backend' AND pid <> pg_backend_pid()";

    // 55006 object_in_use: "source database ... is being accessed by other users".
    public override bool IsSourceDatabaseInUse(DbException e) => e is PostgresException { SqlState: "55006" };
}
