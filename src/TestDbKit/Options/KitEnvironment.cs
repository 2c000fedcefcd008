using System.Globalization;
using TestDbKit.Engines;

namespace TestDbKit.Options;

/// <summary>
/// Every <c>TESTDBKIT_*</c> variable the kit reads, named once, and the one place that reads them.
/// <para>Precedence, the same for every variable: what code sets (<see cref="DbServerOptions"/>,
/// <see cref="TestDbOptions"/> from a test class's <c>Configure</c> over the assembly's
/// <see cref="TestDbConfigurationAttribute"/>) wins; a variable fills in what code leaves unset, so CI switches
/// a suite that sets nothing without code changes; the built-in default comes last. An empty variable counts
/// as unset.</para>
/// <para>Engine-specific names come from the engine's module (built from its key, <c>postgres</c>, <c>mysql</c>),
/// never from a branch on the engine: <c>TESTDBKIT_POSTGRES_IMAGE</c>, <c>TESTDBKIT_MYSQL_BIN</c>, ...</para>
/// </summary>
internal static class KitEnvironment
{
    /// <summary>The provider for every <see cref="DbServerProvider.Auto"/> request: auto, local, docker, external.</summary>
    public const string Provider = "TESTDBKIT_PROVIDER";

    /// <summary>Local: the folder under which data directories are made.</summary>
    public const string DataRoot = "TESTDBKIT_DATA_ROOT";

    /// <summary>Docker: the image pull policy (never, missing, always).</summary>
    public const string DockerPull = "TESTDBKIT_DOCKER_PULL";

    /// <summary>The per-user folder where servers the kit owns are registered (the owner sockets).</summary>
    public const string RunDir = "TESTDBKIT_RUN_DIR";

    /// <summary>The folder the run report is written to; no report without it.</summary>
    public const string ReportDir = "TESTDBKIT_REPORT_DIR";

    /// <summary>The run report's file name (without extension).</summary>
    public const string ReportName = "TESTDBKIT_REPORT_NAME";

    /// <summary>The chaos seed a run replays.</summary>
    public const string ChaosSeed = "TESTDBKIT_CHAOS_SEED";

    /// <summary>1 allows session-level chaos on servers the kit does not own.</summary>
    public const string AllowChaos = "TESTDBKIT_ALLOW_CHAOS";

    // Values a test sets for its own async flow only, so tests of the precedence never touch the process
    // environment (which tests running beside them read).
    private static readonly AsyncLocal<IReadOnlyDictionary<string, string?>?> Overrides = new();

    /// <summary>External: the connection string of the server to use (<c>TESTDBKIT_POSTGRES</c>, <c>TESTDBKIT_MYSQL</c>).</summary>
    public static string ExternalVariable(DbEngine engine) => EngineRegistry.Module(engine).ConnectionVariable;

    /// <summary>Docker: the image (<c>TESTDBKIT_POSTGRES_IMAGE</c>, <c>TESTDBKIT_MYSQL_IMAGE</c>).</summary>
    public static string ImageVariable(DbEngine engine) => EngineRegistry.Module(engine).ImageVariable;

    /// <summary>Local: the folder of the server binaries (<c>TESTDBKIT_POSTGRES_BIN</c>, <c>TESTDBKIT_MYSQL_BIN</c>).</summary>
    public static string BinVariable(DbEngine engine) => EngineRegistry.Module(engine).BinVariable;

    /// <summary>Local, as root: the OS user the server runs as (<c>TESTDBKIT_POSTGRES_OS_USER</c>).</summary>
    public static string? OsUserVariable(DbEngine engine) => EngineRegistry.Module(engine).OsUserVariable;

    /// <summary>Local: which flavour to run when several are installed (<c>TESTDBKIT_MYSQL_FLAVOUR</c>); null for an
    /// engine with one flavour.</summary>
    public static string? FlavourVariable(DbEngine engine) => EngineRegistry.Module(engine).FlavourVariable;

    /// <summary>Every variable the kit reads, for documentation and <c>testdbkit doctor</c>.</summary>
    public static IReadOnlyList<string> All =>
    [
        Provider, DataRoot, DockerPull, RunDir, ReportDir, ReportName, ChaosSeed, AllowChaos,
        Reuse, ReuseIdle, ReuseDir,
        .. EngineRegistry.All.SelectMany(d => new[] { ExternalVariable(d.Engine), ImageVariable(d.Engine), BinVariable(d.Engine), OsUserVariable(d.Engine), FlavourVariable(d.Engine) }.OfType<string>()),
    ];

    /// <summary>The variable's value, or null when it is unset or empty.</summary>
    public static string? Get(string variable)
    {
        if (Overrides.Value is { } overrides && overrides.TryGetValue(variable, out var overridden))
        {
            return string.IsNullOrEmpty(overridden) ? null : overridden;
        }

        return Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value ? value : null;
    }

    /// <summary>The provider the variable forces, or <see cref="DbServerProvider.Auto"/>.</summary>
    /// <exception cref="ArgumentException">The value is not a provider; the message says which are.</exception>
    public static DbServerProvider ProviderOrAuto()
    {
        var value = Get(Provider);
        if (string.IsNullOrWhiteSpace(value))
        {
            return DbServerProvider.Auto;
        }

        return Enum.TryParse<DbServerProvider>(value.Trim(), ignoreCase: true, out var provider) && Enum.IsDefined(provider)
            ? provider
            : throw new ArgumentException($"{Provider}='{value}' is not a provider. Use auto, local, docker or external, or unset it.");
    }

    /// <summary>The external server's connection string from the variable, with the variable's name; null when unset.</summary>
    public static (string ConnectionString, string Variable)? ExternalConnectionString(DbEngine engine) =>
        Get(ExternalVariable(engine)) is { } value ? (value, ExternalVariable(engine)) : null;

    /// <summary>The image from the variable, or null.</summary>
    public static string? Image(DbEngine engine) => Get(ImageVariable(engine));

    /// <summary>The binaries' folder from the variable, or null.</summary>
    public static string? BinDirectory(DbEngine engine) => Get(BinVariable(engine));

    /// <summary>The OS user from the variable, or null.</summary>
    public static string? OsUser(DbEngine engine) => OsUserVariable(engine) is { } variable ? Get(variable) : null;

    /// <summary>The flavour <see cref="FlavourVariable"/> asks for, as written, or null.</summary>
    public static string? Flavour(DbEngine engine) => FlavourVariable(engine) is { } variable ? Get(variable) : null;

    /// <summary>The data root from the variable, or null.</summary>
    public static string? DataRootFolder => Get(DataRoot);

    /// <summary>The pull policy's word from the variable, lower case; <c>missing</c> when unset.</summary>
    /// <exception cref="ArgumentException">The value is not a pull policy; the message says which are.</exception>
    public static string DockerPullPolicy => Get(DockerPull)?.Trim().ToLower(CultureInfo.InvariantCulture) switch
    {
        null => "missing",
        var policy when policy is "never" or "missing" or "always" => policy,
        _ => throw new ArgumentException($"{DockerPull}='{Get(DockerPull)}' is not a pull policy. Use never (only local images), missing or always, or unset it (missing)."),
    };

    /// <summary>The run folder from the variable, or null.</summary>
    public static string? RunFolder => Get(RunDir);

    /// <summary>The report folder from the variable, or null.</summary>
    public static string? ReportFolder => Get(ReportDir);

    /// <summary>The report name from the variable, or null.</summary>
    public static string? ReportFileName => Get(ReportName);

    /// <summary>The chaos seed from the variable, or null when unset.</summary>
    /// <exception cref="ArgumentException">The value is not a whole number: a replay that silently ran another
    /// schedule would mislead.</exception>
    public static int? ChaosSeedValue =>
        Get(ChaosSeed) is not { } value ? null
        : int.TryParse(value.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed) ? seed
        : throw new ArgumentException($"{ChaosSeed}='{value}' is not a seed. Use the whole number a chaos run printed ('replay: {ChaosSeed}=N'), or unset it for a new one.");

    /// <summary>Whether <c>TESTDBKIT_ALLOW_CHAOS</c> is yes (see <see cref="Flag"/>).</summary>
    public static bool ChaosAllowed => Flag(AllowChaos);

    /// <summary>A yes-or-no variable: 1, true, yes, on; 0, false, no, off (any case); unset is no.</summary>
    /// <exception cref="ArgumentException">Any other value: a typo must not read as no.</exception>
    public static bool Flag(string variable) => Get(variable) is { } value
        && (Truth(value) ?? throw new ArgumentException($"{variable}='{value}' is neither yes nor no. Use 1 or 0 (or true/false, yes/no, on/off), or unset it."));

    /// <summary>1 keeps the Local shared server and its templates alive between runs (a developer's warm loop).</summary>
    public const string Reuse = "TESTDBKIT_REUSE";

    /// <summary>How long a reused server lives on without a run: seconds, or with a unit (<c>90s</c>, <c>15m</c>, <c>1h</c>).</summary>
    public const string ReuseIdle = "TESTDBKIT_REUSE_IDLE";

    /// <summary>The per-user folder holding the reused servers' state.</summary>
    public const string ReuseDir = "TESTDBKIT_REUSE_DIR";

    /// <summary>Set to a true value by CI systems; reuse is off there.</summary>
    public const string Ci = "CI";

    /// <summary>The user's runtime folder (per user, 0700, emptied at logout), where reuse keeps its state.</summary>
    public const string XdgRuntimeDir = "XDG_RUNTIME_DIR";

    /// <summary><c>TESTDBKIT_REUSE</c> read: null when unset.</summary>
    /// <exception cref="ArgumentException">Not a yes or no; the message says what is.</exception>
    public static bool? ReuseRequested => Get(Reuse) is { } value
        ? Truth(value) ?? throw new ArgumentException($"{Reuse}='{value}' is neither on nor off. Use 1 (reuse the Local server between runs) or 0, or unset it.")
        : null;

    /// <summary><c>TESTDBKIT_REUSE_IDLE</c> read: null when unset.</summary>
    /// <exception cref="ArgumentException">Not a positive duration; the message says what is.</exception>
    public static TimeSpan? ReuseIdleTime => Get(ReuseIdle) is { } value
        ? Duration(value) ?? throw new ArgumentException($"{ReuseIdle}='{value}' is not a duration. Use seconds (900) or a number with s, m or h (15m), greater than 0 and at most 1000000, or unset it.")
        : null;

    /// <summary>The reuse state folder from the variable, or null.</summary>
    public static string? ReuseFolder => Get(ReuseDir);

    /// <summary>The runtime folder from <c>XDG_RUNTIME_DIR</c>, or null.</summary>
    public static string? RuntimeFolder => Get(XdgRuntimeDir);

    /// <summary>Whether <c>CI</c> holds a true value (true, 1, yes; GitHub, GitLab, Azure and most others set it).</summary>
    public static bool InCi => Get(Ci) is { } value && Truth(value) == true;

    /// <summary>The one reading of a yes-or-no value: 1, true, yes, on; 0, false, no, off (any case); null for anything else.</summary>
    private static bool? Truth(string value) => value.Trim().ToLowerInvariant() switch
    {
        "1" or "true" or "yes" or "on" => true,
        "0" or "false" or "no" or "off" => false,
        _ => null,
    };

    private static TimeSpan? Duration(string value)
    {
        var text = value.Trim().ToLowerInvariant();
        var unit = text.Length > 0 && char.IsLetter(text[^1]) ? text[^1] : 's';
        var number = char.IsLetter(unit) && text.Length > 0 && char.IsLetter(text[^1]) ? text[..^1] : text;
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) || amount <= 0 || amount > 1e6) // 1e6 hours still fits a TimeSpan
        {
            return null;
        }

        return unit switch
        {
            's' => TimeSpan.FromSeconds(amount),
            'm' => TimeSpan.FromMinutes(amount),
            'h' => TimeSpan.FromHours(amount),
            _ => null,
        };
    }

    /// <summary>Makes the kit see <paramref name="variables"/> (a null value: unset) instead of the process
    /// environment's, in this async flow only, until disposed. For tests of the precedence.</summary>
    public static IDisposable Override(IReadOnlyDictionary<string, string?> variables)
    {
        var before = Overrides.Value;
        var merged = new Dictionary<string, string?>(before ?? new Dictionary<string, string?>());
        foreach (var (name, value) in variables)
        {
            merged[name] = value;
        }

        Overrides.Value = merged;
        return new Restore(before);
    }

    private sealed class Restore(IReadOnlyDictionary<string, string?>? before) : IDisposable
    {
        public void Dispose() => Overrides.Value = before;
    }
}
