using System.Net.Sockets;
using TestDbKit.Diagnostics;
using TestDbKit.Engines;

namespace TestDbKit;

/// <summary>
/// What a database exception means, for every engine's driver, following inner exceptions.
/// The drivers' own <c>IsTransient</c> is not enough: MySqlConnector reports a dropped connection as
/// "Failed to read the result set." with error code 0, or throws a bare <see cref="SocketException"/>.
/// </summary>
public static class DbErrors
{
    private const int MaxDepth = 16;

    /// <summary>The server session behind the connection is gone (killed, timed out, server restarted,
    /// network cut): discard the connection. MySQL 2006, 2013, 2014, 2045, 2055, 4031, 1053, MariaDB 1927;
    /// PostgreSQL 57P01-57P05, class 08, 25P03; and the socket, I/O and end-of-stream errors the drivers
    /// throw or wrap.</summary>
    /// <param name="e">The exception the client saw.</param>
    public static bool IsConnectionLost(Exception e) => Has(e, ErrorKind.ConnectionLost);

    /// <summary>The transaction is aborted: PostgreSQL 25P02 after any error in it, deadlocks and
    /// serialization failures on both engines, MySQL's rollback after a lock wait timeout.</summary>
    /// <param name="e">The exception the client saw.</param>
    public static bool IsTransactionAborted(Exception e) => Has(e, ErrorKind.TransactionAborted);

    /// <summary>A constraint refused the write: SQLSTATE class 23; MySQL 1062, 1451, 1452, 1048, 3819, ...</summary>
    /// <param name="e">The exception the client saw.</param>
    public static bool IsIntegrityViolation(Exception e) => Has(e, ErrorKind.IntegrityViolation);

    /// <summary>Trying again may succeed: a lost connection, a deadlock or serialization failure, a lock
    /// timeout, too many connections, a server starting or stopping, or what the driver itself calls
    /// transient. Never an integrity violation.</summary>
    /// <param name="e">The exception the client saw.</param>
    public static bool IsTransient(Exception e)
    {
        var kind = Classify(e);
        Record(e, kind);
        return (kind & ErrorKind.Transient) != 0 && (kind & ErrorKind.IntegrityViolation) == 0;
    }

    /// <summary>The kit's own checks (is a pooled session dead?): not an error a client met, so the run report
    /// does not count it.</summary>
    internal static bool IsConnectionLostUncounted(Exception e) => (Classify(e) & ErrorKind.ConnectionLost) != 0;

    internal static ErrorKind Classify(Exception e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var kind = ErrorKind.None;
        var pending = new Stack<(Exception Error, int Depth)>();
        pending.Push((e, 0));
        while (pending.Count > 0)
        {
            var (error, depth) = pending.Pop();
            foreach (var dialect in EngineRegistry.All)
            {
                kind |= dialect.Classify(error);
            }

            kind |= Generic(error);
            if (depth >= MaxDepth)
            {
                continue;
            }

            if (error is AggregateException aggregate)
            {
                foreach (var inner in aggregate.InnerExceptions)
                {
                    pending.Push((inner, depth + 1));
                }
            }
            else if (error.InnerException is { } inner)
            {
                pending.Push((inner, depth + 1));
            }
        }

        return kind;
    }

    private static bool Has(Exception e, ErrorKind kind)
    {
        var found = Classify(e);
        Record(e, found);
        return (found & kind) != 0;
    }

    /// <summary>What clients ask about is what they met: the run report counts it, if it is a database error at
    /// all (a retry predicate is asked about every exception).</summary>
    private static void Record(Exception e, ErrorKind kind)
    {
        if (kind != ErrorKind.None || e is System.Data.Common.DbException)
        {
            RunLog.ClientError(e);
        }
    }

    /// <summary>Errors of the transport under the driver: the session is gone whatever the engine.</summary>
    private static ErrorKind Generic(Exception e) => e switch
    {
        // Only the stream's own errors; a file error (a subclass of IOException) is not a lost session.
        SocketException or EndOfStreamException => ErrorKind.ConnectionLost | ErrorKind.Transient,
        IOException io when io.GetType() == typeof(IOException) => ErrorKind.ConnectionLost | ErrorKind.Transient,
        TimeoutException => ErrorKind.Transient,
        _ => ErrorKind.None,
    };
}
