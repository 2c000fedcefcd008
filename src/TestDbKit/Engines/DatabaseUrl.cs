using System.Globalization;

namespace TestDbKit.Engines;

/// <summary>
/// A database URL, the form other ecosystems take: <c>SCHEME://USER:PASSWORD@HOST:PORT/DATABASE?name=value</c>, with
/// SCHEME one of an engine's URL schemes (<see cref="EngineClients.Schemes"/>), optionally followed by <c>+driver</c>
/// as SQLAlchemy writes it (<c>postgresql+psycopg2://</c>, <c>mysql+pymysql://</c>), and user, password and database
/// percent-encoded. The one codec of the kit: <c>testdbkit serve --json</c> writes its URLs with
/// <see cref="Compose(DbEngine, bool, string, int, string, string?, string?)"/>, and <c>--connection</c> of
/// <c>fault</c>, <c>chaos</c> and <c>doctor</c> reads them with <see cref="Parse"/>.
/// </summary>
/// <param name="Engine">The engine the scheme names.</param>
/// <param name="Scheme">The scheme as written, lower case (with any <c>+driver</c>).</param>
/// <param name="Host">The host, without IPv6 brackets.</param>
/// <param name="Port">The port; the engine's default when the URL leaves it out.</param>
/// <param name="User">The user, decoded.</param>
/// <param name="Password">The password, decoded; null when the URL has none.</param>
/// <param name="Database">The database, decoded; null when the URL names none.</param>
/// <param name="Settings">The query parameters, decoded, in order (a client's settings: the codec does not interpret them).</param>
internal sealed record DatabaseUrl(
    DbEngine Engine, string Scheme, string Host, int Port, string User, string? Password, string? Database,
    IReadOnlyList<KeyValuePair<string, string>> Settings)
{
    /// <summary>Whether <paramref name="text"/> is meant as a URL (it has "://"), well formed or not.</summary>
    public static bool IsUrl(string text) => text.Contains("://", StringComparison.Ordinal);

    /// <summary>Every scheme the codec reads, as a message lists them: "postgresql://, postgres://, …".</summary>
    public static string KnownSchemes => string.Join(", ", EngineClients.AllSchemes.Select(s => s + "://"));

    /// <summary>The .NET driver's connection string for the same server, user and database.</summary>
    public string ConnectionString(string applicationName) =>
        EngineRegistry.For(Engine).BuildConnectionString(Host, Port, User, Password ?? "", Database, applicationName);

    /// <summary>
    /// Reads <paramref name="url"/>. Throws <see cref="FormatException"/> whose message says what is wrong and how
    /// to write it, and never holds the password (nor the URL, which holds it).
    /// </summary>
    public static DatabaseUrl Parse(string url)
    {
        var schemeEnd = url.IndexOf("://", StringComparison.Ordinal);
        var scheme = url[..Math.Max(0, schemeEnd)].ToLowerInvariant();
        var clients = EngineClients.ForScheme(scheme)
            ?? throw new FormatException($"the URL's scheme '{scheme}' is none the kit knows; use {KnownSchemes} (a driver after '+' is allowed, as postgresql+psycopg2://).");
        var shape = $"{scheme}://USER:PASSWORD@HOST:PORT/DATABASE";
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new FormatException($"the {scheme}:// URL is malformed; write it as {shape}, " +
                "with user and password percent-encoded (an '@', ':' or '/' in the password as %40, %3A, %2F).");
        }

        var userInfo = uri.UserInfo;
        var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
        var user = Uri.UnescapeDataString(colon < 0 ? userInfo : userInfo[..colon]);
        if (user.Length == 0)
        {
            throw new FormatException($"the {scheme}:// URL names no user; write it as {shape}.");
        }

        var password = colon < 0 ? null : Uri.UnescapeDataString(userInfo[(colon + 1)..]);
        var path = uri.AbsolutePath.Trim('/');
        if (path.Contains('/', StringComparison.Ordinal))
        {
            throw new FormatException($"the {scheme}:// URL's path must be one database name, not '{Uri.UnescapeDataString(path)}'.");
        }

        var database = path.Length == 0 ? null : Uri.UnescapeDataString(path);
        var port = uri.IsDefaultPort || uri.Port < 0 ? clients.DefaultPort : uri.Port;
        return new DatabaseUrl(clients.Engine, scheme, uri.Host.Trim('[', ']'), port, user, password, database, Query(uri.Query));
    }

    /// <summary>The URL of <paramref name="engine"/> for the given parts: its own scheme, or with
    /// <paramref name="sqlAlchemy"/> its SQLAlchemy scheme (the driver Debian packages after '+').</summary>
    public static string Compose(DbEngine engine, bool sqlAlchemy, string host, int port, string user, string? password, string? database)
    {
        var clients = EngineClients.For(engine);
        return Compose(sqlAlchemy ? clients.SqlAlchemyScheme : clients.UrlScheme, host, port, user, password, database);
    }

    /// <summary><c>SCHEME://USER[:PASSWORD]@HOST:PORT[/DATABASE]</c>, user, password and database percent-encoded
    /// and an IPv6 host in brackets.</summary>
    public static string Compose(string scheme, string host, int port, string user, string? password, string? database)
    {
        var hostPart = host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[') ? $"[{host}]" : host;
        var credentials = Uri.EscapeDataString(user) + (password is null ? "" : ":" + Uri.EscapeDataString(password));
        return string.Create(CultureInfo.InvariantCulture, $"{scheme}://{credentials}@{hostPart}:{port}")
            + (database is null ? "" : "/" + Uri.EscapeDataString(database));
    }

    /// <summary>A setting as a message may show it: nothing of one whose name looks like a password's.</summary>
    public static string Shown(string text) =>
        text.Contains("pass", StringComparison.OrdinalIgnoreCase) || text.Contains("pwd", StringComparison.OrdinalIgnoreCase) ? "(a password setting, not shown)" : text;

    private static List<KeyValuePair<string, string>> Query(string query)
    {
        var settings = new List<KeyValuePair<string, string>>();
        foreach (var part in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new FormatException($"the URL's query parameter '{Shown(Unescape(part))}' is not name=value.");
            }

            settings.Add(new(Unescape(part[..eq]), Unescape(part[(eq + 1)..])));
        }

        return settings;
    }

    private static string Unescape(string s) => Uri.UnescapeDataString(s.Replace('+', ' '));
}
