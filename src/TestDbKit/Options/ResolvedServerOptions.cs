using TestDbKit.Engines;

namespace TestDbKit.Options;

/// <summary>A value and where it came from (an option or a variable), for messages that say what to change.</summary>
internal readonly record struct Sourced(string Value, string Source)
{
    /// <summary>Only where it came from: the value may be a connection string with its password.</summary>
    public override string ToString() => Source;
}

/// <summary>
/// A <see cref="DbServerOptions"/> with the <c>TESTDBKIT_*</c> variables filled in where code left it unset, and
/// the defaults after them: the one place that merges code, variables and defaults for a server. The providers
/// read their choices from here, and the shared servers are keyed by it (<see cref="ServerKey"/>), so a class that
/// names in code the image a variable names shares the server of the classes that name none.
/// </summary>
internal sealed record ResolvedServerOptions(
    DbServerOptions Options,
    DbServerProvider Provider,
    string? ProviderError,
    Sourced? ConnectionString,
    string Image,
    Sourced? BinDirectory,
    Sourced? Flavour,
    string? DataRoot,
    ReusePlan Reuse)
{
    /// <summary>Resolves <paramref name="options"/> for <paramref name="engine"/>. An unreadable
    /// <c>TESTDBKIT_PROVIDER</c> does not throw here: it is kept in <see cref="ProviderError"/> for the start to report.</summary>
    public static ResolvedServerOptions Of(DbEngine engine, DbServerOptions options)
    {
        var provider = options.Provider;
        string? providerError = null;
        if (provider == DbServerProvider.Auto)
        {
            try
            {
                provider = KitEnvironment.ProviderOrAuto();
            }
            catch (ArgumentException e)
            {
                providerError = e.Message;
            }
        }

        var module = EngineRegistry.Module(engine);
        return new ResolvedServerOptions(
            options,
            provider,
            providerError,
            options.ConnectionString is { Length: > 0 } cs
                ? new Sourced(cs, "DbServerOptions.ConnectionString")
                : KitEnvironment.ExternalConnectionString(engine) is var (fromEnv, variable) ? new Sourced(fromEnv, variable) : null,
            options.Image is { Length: > 0 } image ? image : KitEnvironment.Image(engine) ?? module.DefaultImage,
            options.BinDirectory is { Length: > 0 } bin
                ? new Sourced(bin, "DbServerOptions.BinDirectory")
                : KitEnvironment.BinDirectory(engine) is { } binFromEnv ? new Sourced(binFromEnv, module.BinVariable) : null,
            !string.IsNullOrWhiteSpace(options.Flavour) && options.Flavour is { } flavour
                ? new Sourced(flavour, "DbServerOptions.Flavour")
                : KitEnvironment.Flavour(engine) is { } flavourFromEnv ? new Sourced(flavourFromEnv, module.FlavourVariable!) : null,
            options.DataRoot is { Length: > 0 } root ? root : KitEnvironment.DataRootFolder,
            ReusePlan.Of(options, provider));
    }

    /// <summary>Never the connection string, which holds a password.</summary>
    public override string ToString() => $"{Provider} server options";

    /// <summary>Which server these options pick.</summary>
    public ServerKey Key => new(
        Provider,
        ProviderError,
        ConnectionString?.Value,
        Image,
        BinDirectory?.Value,
        Flavour?.Value,
        DataRoot,
        Options.Port,
        Reuse.Requested ? Reuse.Folder ?? "" : null, // each state folder has servers of its own
        string.Join('\n', Options.Settings.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => s.Key + "=" + s.Value)));
}

/// <summary>Whether a shared Local server is kept for later runs (<see cref="DbServerOptions.Reuse"/>): what code and
/// <c>TESTDBKIT_REUSE</c> asked for, and why it is off when it was asked for but cannot be (logged once at start).</summary>
/// <param name="Requested">Code or the variable asked for reuse.</param>
/// <param name="WhyOff">Why a requested reuse is ignored whatever the server (CI); null otherwise.</param>
/// <param name="Error">An unreadable <c>TESTDBKIT_REUSE</c> or <c>TESTDBKIT_REUSE_IDLE</c>, reported at start.</param>
/// <param name="Idle">How long the server lives on without a run.</param>
/// <param name="Folder">The state folder chosen by code or variable; null: the default.</param>
internal sealed record ReusePlan(bool Requested, string? WhyOff, string? Error, TimeSpan Idle, string? Folder)
{
    /// <summary>The idle time when neither code nor the variable sets one.</summary>
    public static readonly TimeSpan DefaultIdle = TimeSpan.FromMinutes(15);

    public static ReusePlan Of(DbServerOptions options, DbServerProvider provider)
    {
        bool requested;
        TimeSpan idle;
        try
        {
            requested = options.Reuse ?? KitEnvironment.ReuseRequested ?? false;
            idle = options.ReuseIdle ?? KitEnvironment.ReuseIdleTime ?? DefaultIdle;
        }
        catch (ArgumentException e)
        {
            return new ReusePlan(true, null, e.Message, DefaultIdle, null);
        }

        if (requested && idle <= TimeSpan.Zero)
        {
            return new ReusePlan(true, null, $"DbServerOptions.ReuseIdle is {idle}: it must be greater than zero.", DefaultIdle, null);
        }

        string? whyOff = null;
        if (requested && KitEnvironment.InCi)
        {
            whyOff = "CI is set: every CI run starts from a fresh server";
        }
        else if (requested && provider is DbServerProvider.Docker or DbServerProvider.External)
        {
            whyOff = $"the {provider} provider is chosen: only a Local server is kept between runs";
        }

        return new ReusePlan(requested, whyOff, null, idle, options.ReuseFolder is { Length: > 0 } folder ? folder : KitEnvironment.ReuseFolder);
    }

    /// <summary>Reuse applies (so far as options tell: a server of the test's own never is).</summary>
    public bool On => Requested && WhyOff is null && Error is null;
}
