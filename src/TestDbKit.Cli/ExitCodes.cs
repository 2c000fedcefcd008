namespace TestDbKit.Cli;

/// <summary>Exit codes a pipeline can act on.</summary>
internal static class ExitCodes
{
    /// <summary>All fine.</summary>
    public const int Ok = 0;

    /// <summary>Problems found: doctor's advice, or chaos faults that could not be injected or a server that did not come back.</summary>
    public const int Problems = 1;

    /// <summary>A server could not be started or reached.</summary>
    public const int Unreachable = 2;

    /// <summary>chaos refused the server: the kit does not own it (and TESTDBKIT_ALLOW_CHAOS is not 1), or a
    /// fault asked for needs a server the kit owns.</summary>
    public const int Refused = 3;

    /// <summary>The command line is wrong (EX_USAGE).</summary>
    public const int Usage = 64;
}
