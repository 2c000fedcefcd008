namespace TestDbKit.Cli;

/// <summary>Exit codes a pipeline can act on, the same for every command (the README's table).</summary>
internal static class ExitCodes
{
    /// <summary>All fine.</summary>
    public const int Ok = 0;

    /// <summary>Problems found: doctor's advice, a fault that failed or was not undone, a server that did not come
    /// back after a chaos fault, or a <c>--database</c> that names no database.</summary>
    public const int Problems = 1;

    /// <summary>A server could not be started or reached.</summary>
    public const int Unreachable = 2;

    /// <summary>fault or chaos refused: the kit does not own the server (and TESTDBKIT_ALLOW_CHAOS is not 1), a fault
    /// needs a server the kit owns, or cannot act here (a database outside <c>tdk_</c>, a session of no kit
    /// database, a network fault on a server whose <c>testdbkit serve</c> runs no proxy, a server without the kit's
    /// per-database settings).</summary>
    public const int Refused = 3;

    /// <summary>Malformed input (EX_USAGE): the command line, or a connection string, URL or value in it.</summary>
    public const int Usage = 64;
}
