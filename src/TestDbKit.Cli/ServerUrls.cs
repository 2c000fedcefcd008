using System.Globalization;
using TestDbKit.Engines;

namespace TestDbKit.Cli;

/// <summary>
/// Database URLs, the form other ecosystems take (<c>postgresql://USER:PASSWORD@HOST:PORT/DATABASE</c>,
/// <c>mysql://…</c>, SQLAlchemy's <c>postgresql+psycopg2://…</c> and <c>mysql+pymysql://…</c>): written for
/// <c>testdbkit serve --json</c>, and read back as <c>--connection</c>. User and password are percent-encoded.
/// </summary>
internal static class ServerUrls
{
    /// <summary>Each engine's URL scheme, its SQLAlchemy scheme, the other schemes read as it, and the port a URL
    /// without one means. Keyed by the registry's key.</summary>
    // TODO(coordinator): engine-specific facts; they belong on EngineModule (src/TestDbKit/Engines, owned by CORE).
    private static readonly Dictionary<string, (string Scheme, string SqlAlchemy, string[] Also, int DefaultPort)> Schemes = new(StringComparer.Ordinal)
    {
        ["postgres"] = ("postgresql", "postgresql+psycopg2", ["postgres"], 5432),
        ["mysql"] = ("mysql", "mysql+pymysql", ["mariadb"], 3306),
    };

    /// <summary>The engine's own URL: <c>SCHEME://USER:PASSWORD@HOST:PORT[/DATABASE]</c>.</summary>
    public static string Url(EngineDialect dialect, string host, int port, string user, string? password, string? database) =>
        Compose(Schemes[dialect.Key].Scheme, host, port, user, password, database);

    /// <summary>The SQLAlchemy URL (the driver named after '+', one Debian packages).</summary>
    public static string SqlAlchemyUrl(EngineDialect dialect, string host, int port, string user, string? password, string? database) =>
        Compose(Schemes[dialect.Key].SqlAlchemy, host, port, user, password, database);

    /// <summary>The engine value <c>serve --json</c> prints (the URL scheme: "postgresql" or "mysql").</summary>
    public static string EngineName(EngineDialect dialect) => Schemes[dialect.Key].Scheme;

    /// <summary>Every name an engine goes by beside its registry key (its URL schemes): what <c>--engine</c> also takes.</summary>
    public static IEnumerable<string> OtherNames => Schemes.Values.SelectMany(s => s.Also.Append(s.Scheme)).Except(Schemes.Keys).Distinct();

    /// <summary>The registry key of an engine named by its key or one of its URL schemes; null when none.</summary>
    public static string? KeyOf(string name) =>
        Schemes.FirstOrDefault(s => s.Key.Equals(name, StringComparison.OrdinalIgnoreCase)
            || s.Value.Scheme.Equals(name, StringComparison.OrdinalIgnoreCase)
            || s.Value.Also.Contains(name, StringComparer.OrdinalIgnoreCase)).Key;

    /// <summary>Whether <paramref name="text"/> is meant as a URL (it has a scheme and "://"), well formed or not.</summary>
    public static bool LooksLikeUrl(string text) => text.Contains("://", StringComparison.Ordinal);

    /// <summary>
    /// The engine and driver connection string a URL names. Query parameters (<c>?sslmode=…</c>, <c>?charset=…</c>)
    /// are not the kit's to interpret and are ignored. Throws <see cref="FormatException"/> with a message that
    /// never holds the password.
    /// </summary>
    public static (DbEngine Engine, string ConnectionString) Parse(string url)
    {
        var schemeEnd = url.IndexOf("://", StringComparison.Ordinal);
        var scheme = url[..Math.Max(0, schemeEnd)].ToLowerInvariant();
        var baseScheme = scheme.Split('+')[0];
        var key = Schemes.FirstOrDefault(s => s.Value.Scheme == baseScheme || s.Value.Also.Contains(baseScheme)).Key
            ?? throw new FormatException($"the URL's scheme '{scheme}' is none the kit knows; use " +
                string.Join(" or ", Schemes.Values.Select(s => s.Scheme + "://")) + " (a SQLAlchemy driver after '+' is allowed).");
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new FormatException($"the {scheme}:// URL is malformed; write it as {scheme}://USER:PASSWORD@HOST:PORT/DATABASE, " +
                "with user and password percent-encoded (an '@', ':' or '/' in the password as %40, %3A, %2F).");
        }

        var userInfo = uri.UserInfo;
        if (userInfo.Length == 0)
        {
            throw new FormatException($"the {scheme}:// URL names no user; write it as {scheme}://USER:PASSWORD@HOST:PORT/DATABASE.");
        }

        var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
        var user = Uri.UnescapeDataString(colon < 0 ? userInfo : userInfo[..colon]);
        var password = colon < 0 ? "" : Uri.UnescapeDataString(userInfo[(colon + 1)..]);
        var path = uri.AbsolutePath.Trim('/');
        if (path.Contains('/', StringComparison.Ordinal))
        {
            throw new FormatException($"the {scheme}:// URL's path must be one database name, not '{path}'.");
        }

        var database = path.Length == 0 ? null : Uri.UnescapeDataString(path);
        var port = uri.IsDefaultPort || uri.Port < 0 ? Schemes[key].DefaultPort : uri.Port;
        var dialect = EngineRegistry.FromKey(key);
        return (dialect.Engine, dialect.BuildConnectionString(uri.Host.Trim('[', ']'), port, user, password, database, "testdbkit"));
    }

    private static string Compose(string scheme, string host, int port, string user, string? password, string? database)
    {
        var hostPart = host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[') ? $"[{host}]" : host;
        var credentials = Uri.EscapeDataString(user) + (password is null ? "" : ":" + Uri.EscapeDataString(password));
        return string.Create(CultureInfo.InvariantCulture, $"{scheme}://{credentials}@{hostPart}:{port}")
            + (database is null ? "" : "/" + Uri.EscapeDataString(database));
    }
}
