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
    string? DataRoot)
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
            options.DataRoot is { Length: > 0 } root ? root : KitEnvironment.DataRootFolder);
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
        DataRoot,
        Options.Port,
        string.Join('\n', Options.Settings.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => s.Key + "=" + s.Value)));
}
