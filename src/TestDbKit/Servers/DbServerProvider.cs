namespace TestDbKit;

/// <summary>Where a <see cref="DbServer"/> comes from.</summary>
public enum DbServerProvider
{
    /// <summary>
    /// Pick one: <see cref="External"/> when a connection string is configured, else <see cref="Local"/>
    /// when server binaries are installed, else <see cref="Docker"/> when a Docker engine answers.
    /// <c>TESTDBKIT_PROVIDER</c> forces a choice.
    /// </summary>
    Auto,

    /// <summary>The kit runs the server binaries installed on this machine in a throwaway data directory.</summary>
    Local,

    /// <summary>The kit runs a container through Testcontainers.</summary>
    Docker,

    /// <summary>A server someone else runs; the kit only creates and drops its own databases there.</summary>
    External,
}
