using System.Data.Common;
using MySqlConnector;

namespace TestDbKit.Engines;

// MySqlDialect, part: errors: what a driver exception means.
internal sealed partial class MySqlDialect
{
    public override ErrorKind Classify(Exception e) => e is MySqlException my
        ? ClassifyNumber(my.Number, my.SqlState) | (my.IsTransient ? ErrorKind.Transient : ErrorKind.None)
        : ErrorKind.None;

    /// <summary>MySQL and MariaDB error numbers (server 1xxx/3xxx/4xxx, client 2xxx).</summary>
    internal static ErrorKind ClassifyNumber(int number, string? sqlState) => number switch
    {
        // 2006 server has gone away, 2013 lost connection during query, 2014 commands out of sync,
        // 2045 / 2055 lost connection (system error), 4031 disconnected for inactivity (MySQL 8.0.24+),
        // 1053 server shutdown in progress, 1927 connection killed (MariaDB)
        2006 or 2013 or 2014 or 2045 or 2055 or 4031 or 1053 or 1927 => ErrorKind.ConnectionLost | ErrorKind.Transient,
        // 1213 deadlock: the transaction was rolled back. 1205 lock wait timeout: the statement (and with
        // innodb_rollback_on_timeout the transaction) was rolled back. Both are worth a retry.
        1213 or 1205 => ErrorKind.TransactionAborted | ErrorKind.Transient,
        // 1040 too many connections, 1203 user has too many connections, 1042 cannot connect to host,
        // 1290 / 1836 read-only server (a failover left the client on a replica), 1792 write in a read-only
        // transaction (SQLSTATE 25006, like PostgreSQL's; the kit's per-database read-only fault)
        1040 or 1203 or 1042 or 1290 or 1836 or 1792 => ErrorKind.Transient,
        // 1062 duplicate entry, 1586 duplicate with key name, 1451/1217 row is referenced, 1452/1216 no
        // referenced row, 1048 column cannot be null, 3819 check constraint (MySQL), 4025 constraint failed (MariaDB)
        1062 or 1586 or 1451 or 1217 or 1452 or 1216 or 1048 or 3819 or 4025 => ErrorKind.IntegrityViolation,
        // 1317 query interrupted (KILL QUERY: a cancel, or the kit's statement-timeout watcher on a session whose
        // max_statement_time a connection reset took away), 1969 max_statement_time exceeded (MariaDB), 3024
        // max_execution_time exceeded (MySQL 8): the statement's own verdict, like PostgreSQL's 57014. The session
        // lives on; neither lost nor worth a blind retry. Listed so that their SQLSTATE 70100 never falls to a rule below.
        1317 or 1969 or 3024 => ErrorKind.None,
        _ when sqlState?.StartsWith("23", StringComparison.Ordinal) == true => ErrorKind.IntegrityViolation,
        _ when sqlState?.StartsWith("08", StringComparison.Ordinal) == true => ErrorKind.ConnectionLost | ErrorKind.Transient,
        _ => ErrorKind.None,
    };

    public override bool IsMissingDatabase(DbException e) => e is MySqlException { Number: 1049 }; // ER_BAD_DB_ERROR

    public override bool IsTooManyConnections(Exception e) => e is MySqlException { Number: 1040 or 1203 };
}
