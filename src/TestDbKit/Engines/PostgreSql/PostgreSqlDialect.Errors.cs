using System.Data.Common;
using Npgsql;

namespace TestDbKit.Engines;

// PostgreSqlDialect, part: errors: what a driver exception means.
internal sealed partial class PostgreSqlDialect
{
    public override ErrorKind Classify(Exception e) => e switch
    {
        PostgresException pg => ClassifySqlState(pg.SqlState) | (pg.IsTransient ? ErrorKind.Transient : ErrorKind.None),
        // Npgsql's own errors (broken stream, timeouts) carry the cause as an inner exception, which the
        // caller classifies; the flag below keeps Npgsql's transient verdict.
        NpgsqlException n when n.IsTransient => ErrorKind.Transient,
        _ => ErrorKind.None,
    };

    /// <summary>SQLSTATE meanings (PostgreSQL appendix A).</summary>
    internal static ErrorKind ClassifySqlState(string state) => state switch
    {
        // 57P01 admin_shutdown (terminated), 57P02 crash_shutdown, 57P05 idle_session_timeout
        "57P01" or "57P02" or "57P05" => ErrorKind.ConnectionLost | ErrorKind.Transient,
        // 57P03 cannot_connect_now (starting up / shutting down), 57P04 database_dropped
        "57P03" => ErrorKind.ConnectionLost | ErrorKind.Transient,
        "57P04" => ErrorKind.ConnectionLost,
        // 25P03 idle_in_transaction_session_timeout: the server closed the session
        "25P03" => ErrorKind.ConnectionLost | ErrorKind.Transient,
        // 25P02 in_failed_sql_transaction: an earlier error poisoned the transaction
        "25P02" => ErrorKind.TransactionAborted,
        // 40001 serialization_failure, 40P01 deadlock_detected: rolled back, retry the transaction
        "40001" or "40P01" => ErrorKind.TransactionAborted | ErrorKind.Transient,
        // 53300 too_many_connections, 55P03 lock_not_available, 25006 read_only_sql_transaction (a
        // failover left the client on a read-only node: a new connection finds the new primary)
        "53300" or "55P03" or "25006" => ErrorKind.Transient,
        _ when state.StartsWith("08", StringComparison.Ordinal) => ErrorKind.ConnectionLost | ErrorKind.Transient,
        _ when state.StartsWith("23", StringComparison.Ordinal) => ErrorKind.IntegrityViolation,
        _ => ErrorKind.None,
    };

    public override bool IsMissingDatabase(DbException e) => e is PostgresException { SqlState: "3D000" };

    public override bool IsTooManyConnections(Exception e) => e is PostgresException { SqlState: "53300" };
}
