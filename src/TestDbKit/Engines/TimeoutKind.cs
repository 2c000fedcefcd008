namespace TestDbKit.Engines;

/// <summary>The server timeouts a fault can shorten.</summary>
internal enum TimeoutKind
{
    /// <summary>An idle session is closed (PostgreSQL idle_session_timeout, MySQL wait_timeout).</summary>
    Idle,

    /// <summary>A session idle inside a transaction is closed (PostgreSQL idle_in_transaction_session_timeout).</summary>
    IdleInTransaction,

    /// <summary>A statement running longer is cancelled (PostgreSQL statement_timeout).</summary>
    Statement,
}
