namespace TestDbKit.Engines;

// EngineDialect, part: the mark a test run holds on a server it shares with other runs, so their janitors can
// tell a live run's databases from a dead one's (see Databases/RunLiveness.cs).
internal abstract partial class EngineDialect
{
    /// <summary>The name of run <paramref name="runId"/>'s mark (the run id is the kit's own: letters and digits).</summary>
    /// <exception cref="ArgumentException">The run id is not letters and digits (it goes into SQL as a literal).</exception>
    public static string RunMarkName(string runId) =>
        runId.Length is > 0 and <= 40 && runId.All(char.IsAsciiLetterOrDigit)
            ? "testdbkit-run:" + runId
            : throw new ArgumentException($"A run id is letters and digits, not '{runId}'.", nameof(runId));

    /// <summary>How long opening the mark's session may take.</summary>
    public static readonly TimeSpan RunMarkConnectTimeout = TimeSpan.FromSeconds(3);

    /// <summary>Where the session that holds the mark connects: the administrator's own database (a server may let
    /// it into that one only), tagged with the mark's name, no pooling (the session is the mark, and must not go back
    /// to a pool that may close it).</summary>
    public virtual string RunMarkConnectionString(string adminConnectionString, string runId) =>
        ForProbe(WithApplicationName(adminConnectionString, RunMarkName(runId)), RunMarkConnectTimeout);

    /// <summary>Run on the mark's session once it is open; its one value is 1 when the mark is held. Null where
    /// the open session is the mark itself.</summary>
    public abstract string? TakeRunMarkSql(string runId);

    /// <summary>One value, greater than zero while some session holds run <paramref name="runId"/>'s mark.</summary>
    public abstract string RunMarkHeldSql(string runId);

    /// <summary>One row whose last column is the seconds, whole or not, since the server started: every run's mark is
    /// lost at a restart, and is taken again only after it.</summary>
    public abstract string ServerUptimeSql { get; }
}
