namespace TestDbKit.Engines;

/// <summary>
/// What one engine's clients are, for <c>testdbkit doctor --client</c> and the URL codec (<see cref="DatabaseUrl"/>):
/// the URL schemes that name the engine (<c>postgresql://</c>, <c>mysql+pymysql://</c>: the part before any
/// <c>+driver</c>), the SQLAlchemy scheme <c>serve --json</c> writes, the default port a URL may leave out, the .NET driver (the default client), the engine's own Python driver, and the EF Core
/// provider's call. One subclass per engine beside its module; <see cref="For"/> fails loudly for an engine that
/// has none.
/// </summary>
internal abstract class EngineClients
{
    private static readonly IReadOnlyList<EngineClients> Registered = [PostgreSqlClients.Instance, MySqlClients.Instance];

    public abstract DbEngine Engine { get; }

    /// <summary>URL schemes (lower case, without <c>+driver</c>) that name this engine; the first is the engine's
    /// own (<see cref="UrlScheme"/>), the others are aliases read as it.</summary>
    public abstract IReadOnlyList<string> Schemes { get; }

    /// <summary>The scheme of the engine's own URL (<c>postgresql</c>, <c>mysql</c>): what <c>serve --json</c>
    /// prints as <c>engine</c> and writes in <c>url</c>.</summary>
    public string UrlScheme => Schemes[0];

    /// <summary>The SQLAlchemy scheme, with the driver Debian packages after '+' (<c>postgresql+psycopg2</c>).</summary>
    public abstract string SqlAlchemyScheme { get; }

    /// <summary>The port a URL without one means.</summary>
    public abstract int DefaultPort { get; }

    /// <summary>The .NET driver: the client doctor advises on when none is named.</summary>
    public abstract DriverAdvisor Driver { get; }

    /// <summary>The engine's own Python driver (psycopg, PyMySQL).</summary>
    public abstract ClientAdvisor Python { get; }

    /// <summary>How EF Core's provider for this engine turns on retries, for advice.</summary>
    public abstract string EfCoreRetryCall { get; }

    /// <summary>Every engine's clients, in <see cref="EngineRegistry.Modules"/>' order.</summary>
    public static IReadOnlyList<EngineClients> All => Registered;

    /// <summary>The clients of <paramref name="engine"/>; throws for an engine registered without them.</summary>
    public static EngineClients For(DbEngine engine) =>
        Registered.FirstOrDefault(c => c.Engine == engine)
        ?? throw new ArgumentOutOfRangeException(nameof(engine), engine,
            $"No clients are registered for DbEngine.{engine} (src/TestDbKit/Engines/EngineClients.cs); registered: {string.Join(", ", Registered.Select(c => c.Engine))}.");

    /// <summary>The engine a URL scheme names (<c>postgresql+psycopg2</c> names PostgreSQL), or null.</summary>
    public static EngineClients? ForScheme(string scheme)
    {
        var main = scheme.Split('+')[0];
        return Registered.FirstOrDefault(c => c.Schemes.Contains(main, StringComparer.OrdinalIgnoreCase));
    }

    /// <summary>The engine named by its registry key or one of its URL schemes (what <c>--engine</c> takes), or null.</summary>
    public static EngineClients? ForName(string name) =>
        Registered.FirstOrDefault(c => EngineRegistry.For(c.Engine).Key.Equals(name, StringComparison.OrdinalIgnoreCase))
        ?? Registered.FirstOrDefault(c => c.Schemes.Contains(name, StringComparer.OrdinalIgnoreCase));

    /// <summary>Every scheme any engine takes, for messages.</summary>
    public static IEnumerable<string> AllSchemes => Registered.SelectMany(c => c.Schemes);
}
