namespace TestDbKit.Engines;

/// <summary>What an engine's error means for the connection and the transaction it happened on.</summary>
[Flags]
internal enum ErrorKind
{
    None = 0,

    /// <summary>The server session is gone: the connection cannot be used again.</summary>
    ConnectionLost = 1,

    /// <summary>The transaction was rolled back (or must be): only a ROLLBACK is accepted now.</summary>
    TransactionAborted = 2,

    /// <summary>A constraint refused the write: retrying the same write fails the same way.</summary>
    IntegrityViolation = 4,

    /// <summary>Trying again (on a new connection or transaction) may succeed.</summary>
    Transient = 8,
}
