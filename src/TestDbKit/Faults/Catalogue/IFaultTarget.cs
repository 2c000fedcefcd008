using TestDbKit.Engines;

namespace TestDbKit.Faults;

/// <summary>
/// What a fault is injected into: the seam between the catalogue and its two drivers. <see cref="FaultInjector"/>
/// drives one leased test database (its sessions, its settings, its network proxy, and the server when the test
/// has one of its own); <c>testdbkit chaos</c> drives a whole server through the administrator's connection (every
/// <c>tdk_</c> database) and, when a <c>testdbkit serve</c> owns it, the owner socket; the owner drives the server
/// it started. A fault asks the target for what it needs; a target that cannot give it refuses with the reason.
/// </summary>
internal interface IFaultTarget
{
    EngineDialect Dialect { get; }

    /// <summary>Where a fault of <paramref name="scope"/> lands, for the run's log: a database name or a server.</summary>
    string Where(FaultScope scope);

    /// <summary>The server's "host:port" (<see cref="EngineDialect.EndpointOf"/>), so a timeline can tell a fault on
    /// this server from one on a server of another test.</summary>
    string? Endpoint { get; }

    /// <summary>Throws when the user has not allowed faults that end sessions or change settings here (an
    /// External server without <c>TESTDBKIT_ALLOW_CHAOS=1</c>).</summary>
    /// <param name="what">The fault, as a verb phrase ("kill a session").</param>
    void Consent(string what);

    /// <summary>Runs <paramref name="sql"/> as the administrator.</summary>
    Task ExecuteAsAdminAsync(string sql, CancellationToken ct);

    /// <summary>Ends the sessions of the target's database(s) that <paramref name="filter"/> selects, never the
    /// kit's own control sessions; returns how many.</summary>
    Task<int> EndSessionsAsync(SessionFilter filter, CancellationToken ct);

    /// <summary>Shortens a server timeout for the target's database(s); the handle restores it.</summary>
    Task<IAsyncDisposable> ShortenTimeoutAsync(TimeoutKind kind, TimeSpan timeout, CancellationToken ct);

    /// <summary>Runs a server-scope fault where the server is owned: in this process when it started the server,
    /// else by asking its owner over the socket. Throws why not when the server may not be touched as a whole.</summary>
    /// <param name="kind">The fault.</param>
    /// <param name="hold">How long a lasting fault is held (the owner holds and undoes it when asked remotely).</param>
    /// <param name="ct">Cancels the request.</param>
    Task<FaultOutcome> OnServerAsync(ServerFaultKind kind, TimeSpan hold, CancellationToken ct);

    /// <summary>Injects <paramref name="kind"/> into this target through the generic path, keeping a lasting
    /// fault's undo for as long as the target lives (a leased database undoes what is left when it goes back).</summary>
    Task<FaultOutcome> InjectAsync(FaultKind kind, FaultArgs args, CancellationToken ct);

    /// <summary>The network proxy of the target's database; throws when the target has none.</summary>
    NetworkFaults Network { get; }
}
