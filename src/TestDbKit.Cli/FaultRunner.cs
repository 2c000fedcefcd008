using System.Diagnostics;
using System.Globalization;
using TestDbKit.Diagnostics;
using TestDbKit.Engines;
using TestDbKit.Faults;
using TestDbKit.Servers;

namespace TestDbKit.Cli;

/// <summary>What a fault of <c>fault</c> or <c>chaos</c> is given beyond its kind: the time of a timeout fault or a
/// latency, the table of a lock, the session of a kill-session or cancel, the bytes of a bandwidth limit or a cut.</summary>
internal sealed record FaultInputs(TimeSpan? Value = null, string? Table = null, long? Session = null, long? Bytes = null);

/// <summary>What <c>--value</c> of a fault is.</summary>
internal enum ValueKind
{
    /// <summary>The fault takes no value.</summary>
    None,

    /// <summary>A time: the timeout of a timeout fault, the delay of a latency.</summary>
    Time,

    /// <summary>A byte count: bytes a second of a bandwidth limit, bytes before a cut.</summary>
    Bytes,
}

/// <summary>Why a command stops before injecting anything: its exit code and message.</summary>
internal sealed class Refusal(int code, string message) : Exception(message)
{
    public int Code => code;
}

/// <summary>
/// How <c>fault</c> and <c>chaos</c> reach a server and inject one fault of the catalogue into it: the checks
/// before (the server is the kit's or chaos is allowed, the database is a kit one, the fault can act here), the
/// kinds that need more than a hold (read-only, lock, kill-session, cancel), and the server's recovery after a
/// server-scope fault.
/// </summary>
internal static class FaultRunner
{
    /// <summary>The kinds that need an argument of their own: the lock's table, the session of a kill or cancel.</summary>
    public static bool NeedsTable(FaultKind kind) => kind is HoldLock;

    public static bool NeedsSession(FaultKind kind) => kind is KillSession or CancelQuery;

    /// <summary>The kinds that take <c>--value</c>.</summary>
    public static bool TakesValue(FaultKind kind) => ValueOf(kind) != ValueKind.None;

    /// <summary>What <c>--value</c> is for <paramref name="kind"/>.</summary>
    public static ValueKind ValueOf(FaultKind kind) => kind switch
    {
        TimeoutFault or NetworkLatency => ValueKind.Time,
        NetworkBandwidth or NetworkCut => ValueKind.Bytes,
        _ => ValueKind.None,
    };

    /// <summary>The kinds that cannot run without a <c>--value</c> (no default): a bandwidth limit, a cut.</summary>
    public static bool NeedsValue(FaultKind kind) => kind is NetworkBandwidth or NetworkCut;

    /// <summary>The kinds that act on the kit's TCP proxy of a <c>testdbkit serve --proxy</c>.</summary>
    public static bool IsNetwork(FaultKind kind) => kind is NetworkFaultKind;

    /// <summary>The value a fault runs with, as the events print it: a timeout's or latency's time (its default when
    /// none was given), bytes a second, bytes before a cut; null for a fault without one.</summary>
    public static string? ValueText(FaultKind kind, FaultInputs inputs) => kind switch
    {
        TimeoutFault => FaultEvents.Time(inputs.Value ?? TimeoutFault.DefaultTimeout),
        NetworkLatency => inputs.Value is { } latency ? FaultEvents.Time(latency)
            : $"{FaultEvents.Time(NetworkLatency.DefaultLatency)}±{FaultEvents.Time(NetworkLatency.DefaultJitter)}",
        NetworkBandwidth => string.Create(CultureInfo.InvariantCulture, $"{inputs.Bytes}B/s"),
        NetworkCut => string.Create(CultureInfo.InvariantCulture, $"{inputs.Bytes}B"),
        _ => null,
    };

    /// <summary>A byte count as <c>--value</c> takes it: 4096, 4096B, 16KB (or 16k), 1MB (or 1m); K and M are 1024
    /// and 1024². Null when malformed.</summary>
    public static long? ParseBytes(string text)
    {
        var units = new (string Suffix, long Bytes)[] { ("KB", 1024), ("K", 1024), ("MB", 1024 * 1024), ("M", 1024 * 1024), ("B", 1), ("", 1) };
        foreach (var (suffix, bytes) in units)
        {
            if (text.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && long.TryParse(text[..^suffix.Length], NumberStyles.None, CultureInfo.InvariantCulture, out var count)
                && count <= long.MaxValue / bytes)
            {
                return count * bytes;
            }
        }

        return null;
    }

    /// <summary><c>TESTDBKIT_ALLOW_CHAOS</c>; a value that is neither yes nor no is malformed input.</summary>
    private static bool ChaosAllowed()
    {
        try
        {
            return Options.KitEnvironment.ChaosAllowed;
        }
        catch (ArgumentException e)
        {
            throw new Refusal(ExitCodes.Usage, e.Message);
        }
    }

    /// <summary>Reaches the server <paramref name="input"/> names for <paramref name="kinds"/>, limited to
    /// <paramref name="database"/> when given; throws <see cref="Refusal"/> with the exit code when it may not.</summary>
    public static async Task<(SessionFaults Target, ServedServer? Served, string Where)> ConnectAsync(
        ConnectionInput input, IReadOnlyList<FaultKind> kinds, string? database, CancellationToken ct)
    {
        var dialect = input.Dialect;
        var endpoint = dialect.Parse(input.ConnectionString);
        var where = $"{dialect.Name} at {endpoint.Host}:{endpoint.Port}";
        if (database is not null && !database.StartsWith(Databases.DatabaseNames.Prefix, StringComparison.Ordinal))
        {
            throw new Refusal(ExitCodes.Refused, $"refused: --database {database} is not one of the kit's databases (their names start with " +
                $"{Databases.DatabaseNames.Prefix}; 'testdbkit serve --database {database}' creates {Databases.DatabaseNames.Prefix}{database}). Faults touch only the kit's databases.");
        }

        var network = kinds.Where(IsNetwork).Select(k => k.Name).ToList();
        if (database is not null && network.Count > 0)
        {
            throw new Refusal(ExitCodes.Usage, $"--database does not limit {string.Join(", ", network)}: network faults hit every connection through the proxy of " +
                "'testdbkit serve --proxy', whatever its database. Leave --database out, or run the network faults on their own.");
        }

        var served = await ServerControl.FindAsync(dialect.Engine, endpoint.Host, endpoint.Port, ct).ConfigureAwait(false);
        if (network.Count > 0 && served?.Proxy is null)
        {
            var why = served is null
                ? $"{where} is not a server the kit owns (no 'testdbkit serve' of this user registered it in {ServerControl.RunFolder()})"
                : $"the 'testdbkit serve' that owns {where} (pid {served.Pid}) runs no proxy";
            throw new Refusal(ExitCodes.Refused,
                $"refused: {string.Join(", ", network)} act on the kit's TCP proxy that 'testdbkit serve --proxy' runs in front of its server, and {why}. " +
                "Start the server with 'testdbkit serve --proxy', point the clients at its proxy (the proxy object of serve --json), and pass the admin connection string or URL here.");
        }

        var sessionLevel = string.Join(", ", FaultCatalogue.All.Where(k => k.Scope != FaultScope.Server && !IsNetwork(k)).Select(k => k.Name));
        if (served is null)
        {
            if (!ChaosAllowed())
            {
                throw new Refusal(ExitCodes.Refused,
                    $"refused: {where} is not a server the kit owns (no 'testdbkit serve' of this user registered it in {ServerControl.RunFolder()}). " +
                    "Faults break servers: start one with 'testdbkit serve' and pass the connection string or URL it prints. To run session-level faults " +
                    $"({sessionLevel}) on the kit's tdk_ databases of a server the kit does not own, set {Options.KitEnvironment.AllowChaos}=1.");
            }

            if (kinds.Where(k => k.Scope == FaultScope.Server).Select(k => k.Name).ToList() is { Count: > 0 } serverLevel)
            {
                throw new Refusal(ExitCodes.Refused,
                    $"refused: {string.Join(", ", serverLevel)} need a server the kit owns, and {where} is not one ({Options.KitEnvironment.AllowChaos}=1 allows only {sessionLevel}). " +
                    "Start the server with 'testdbkit serve', or leave those faults out.");
            }
        }

        try
        {
            await using var probe = await dialect.OpenAsync(dialect.ForProbe(input.ConnectionString, TimeSpan.FromSeconds(10)), ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is System.Data.Common.DbException or IOException or TimeoutException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            throw new Refusal(ExitCodes.Unreachable, Secrets.Redact(
                $"could not connect to {where}: {e.Message} Check that 'testdbkit serve' still runs and the connection string or URL is the one it printed.",
                dialect.PasswordOfOrNull(input.ConnectionString)));
        }

        var target = new SessionFaults(dialect, input.ConnectionString, served, $"{dialect.Name} {endpoint.Host}:{endpoint.Port}", database);
        if (await target.WhyNoDatabaseAsync(ct).ConfigureAwait(false) is { } missing)
        {
            throw new Refusal(ExitCodes.Problems, missing + ". Name a database the kit created (testdbkit serve --database NAME prints it).");
        }

        foreach (var kind in kinds)
        {
            if (await target.WhyNotAsync(kind, ct).ConfigureAwait(false) is { } why)
            {
                throw new Refusal(ExitCodes.Refused, $"refused: the {kind.Name} fault cannot run on {where}: {why.TrimEnd('.')}.");
            }
        }

        return (target, served, where);
    }

    /// <summary>Injects <paramref name="kind"/>; the outcome's handle undoes a lasting one.</summary>
    public static async Task<FaultOutcome> InjectAsync(FaultKind kind, SessionFaults target, FaultInputs inputs, CancellationToken ct)
    {
        switch (kind)
        {
            case ReadOnly:
                FaultLog.Record(kind, target.Where(kind.Scope));
                return new FaultOutcome(await target.ReadOnlyAsync(ct).ConfigureAwait(false), Detail: "new sessions were read-only");
            case HoldLock hold:
                var database = target.Database ?? throw new Refusal(ExitCodes.Usage, "the lock fault needs --database (the kit database holding the table).");
                var undo = await hold.InjectAsync(target, target.Dialect.WithDatabase(target.AdminConnectionString, database), inputs.Table!, ct).ConfigureAwait(false);
                return new FaultOutcome(undo, Detail: $"table {inputs.Table} was locked");
            case NetworkFaultKind network:
                long? value = ValueOf(network) == ValueKind.Bytes ? inputs.Bytes
                    : inputs.Value is { } time ? (long)Math.Ceiling(time.TotalMilliseconds) : null;
                return await target.NetworkAsync(network, value, ct).ConfigureAwait(false);
            case KillSession or CancelQuery:
                var id = inputs.Session!.Value;
                if (!await target.IsKitSessionAsync(id, ct).ConfigureAwait(false))
                {
                    throw new Refusal(ExitCodes.Refused, string.Create(CultureInfo.InvariantCulture,
                        $"refused: session {id} is no client session of {(target.Database ?? "the kit's databases")}; faults touch only the kit's databases."));
                }

                await (kind is KillSession kill ? kill.InjectAsync(target, () => id, ct) : ((CancelQuery)kind).InjectAsync(target, () => id, ct)).ConfigureAwait(false);
                return new FaultOutcome(null, 1, string.Create(CultureInfo.InvariantCulture, $"session {id} {(kind is KillSession ? "ended" : "had its statement cancelled")}"));
            default:
                return await target.InjectAsync(kind, new FaultArgs(TimeSpan.Zero) { Timeout = inputs.Value }, ct).ConfigureAwait(false);
        }
    }

    /// <summary>After a server-scope fault: how long until the server answered again, and the line saying so.</summary>
    public static async Task<(TimeSpan? BackAfter, string Detail)> RecoveryAsync(FaultKind kind, SessionFaults target, long began, CancellationToken ct)
    {
        var back = await target.TimeUntilAnswersAsync(began, ct).ConfigureAwait(false);
        RunLog.Recovery(back ?? Stopwatch.GetElapsedTime(began), back is not null, $"server answers again after {kind.Name}");
        return (back, back is null ? "the server did not answer again within a minute" : $"server answers again after {RunReport.Milliseconds(back.Value)}");
    }
}
