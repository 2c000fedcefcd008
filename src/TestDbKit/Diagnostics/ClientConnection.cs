using TestDbKit.Engines;

namespace TestDbKit.Diagnostics;

/// <summary>
/// Where a client connects, as a user gives it to doctor: a .NET connection string (the engine then comes from
/// <c>--engine</c>), or a URL in the forms other ecosystems take (<c>postgresql://</c>, <c>postgresql+psycopg2://</c>,
/// <c>mysql://</c>, <c>mysql+pymysql://</c>: <c>scheme://user:password@host:port/database?name=value</c>, user and
/// password percent-encoded), whose query parameters are read as the client's settings. Anything malformed throws
/// <see cref="ClientInputException"/> with a message that says what is wrong and never holds the password.
/// </summary>
/// <param name="Engine">The engine the connection is for.</param>
/// <param name="ConnectionString">The .NET driver's connection string for the same server, user and database.</param>
/// <param name="Settings">The URL's query parameters, in order.</param>
/// <param name="Password">The password, to keep out of messages.</param>
internal sealed record ClientConnection(DbEngine Engine, string ConnectionString, IReadOnlyList<KeyValuePair<string, string>> Settings, string? Password)
{
    public static bool IsUrl(string value) => value.Contains("://", StringComparison.Ordinal);

    /// <summary>Reads <paramref name="value"/>; <paramref name="engine"/> is what <c>--engine</c> named, if anything.</summary>
    public static ClientConnection Parse(string value, DbEngine? engine)
    {
        if (!IsUrl(value))
        {
            if (engine is not { } e)
            {
                throw new ClientInputException($"--connection is a connection string, so doctor needs --engine {string.Join(" or --engine ", EngineRegistry.Keys)} (or give a URL: {string.Join("://, ", EngineClients.AllSchemes)}://).");
            }

            var dialect = EngineRegistry.For(e);
            try
            {
                var cs = dialect.CreateBuilder(value).ConnectionString;
                return new ClientConnection(e, cs, [], dialect.PasswordOfOrNull(value));
            }
            catch (Exception x) when (x is ArgumentException or FormatException or InvalidCastException or KeyNotFoundException)
            {
                throw new ClientInputException($"--connection is not a valid {dialect.Name} connection string: {Secrets.Redact(x.Message.Split('\n')[0].TrimEnd(), dialect.PasswordOfOrNull(value))}");
            }
        }

        var scheme = value[..value.IndexOf("://", StringComparison.Ordinal)];
        var clients = EngineClients.ForScheme(scheme)
            ?? throw new ClientInputException($"--connection is a URL with the scheme '{scheme}', which doctor does not know; use {string.Join("://, ", EngineClients.AllSchemes)}:// (optionally with +driver, as postgresql+psycopg2://).");
        if (engine is { } named && named != clients.Engine)
        {
            throw new ClientInputException($"--connection is a {scheme}:// URL, but --engine names {EngineRegistry.For(named).Name}.");
        }

        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
        {
            throw new ClientInputException($"--connection is not a valid URL: expected {scheme}://user:password@host:port/database (user and password percent-encoded).");
        }

        var (user, password) = UserInfo(uri.UserInfo);
        if (string.IsNullOrEmpty(user))
        {
            throw new ClientInputException($"--connection has no user: expected {scheme}://user:password@{uri.Host}/database.");
        }

        var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (database.Contains('/', StringComparison.Ordinal))
        {
            throw new ClientInputException($"--connection's path '/{database}' is not a database name.");
        }

        var port = uri.IsDefaultPort || uri.Port < 0 ? clients.DefaultPort : uri.Port;
        var connectionString = EngineRegistry.For(clients.Engine).BuildConnectionString(
            uri.Host.Trim('[', ']'), port, user, password ?? "", database.Length == 0 ? null : database, "testdbkit-doctor");
        return new ClientConnection(clients.Engine, connectionString, Query(uri.Query), password);
    }

    /// <summary>One <c>--setting name=value</c>.</summary>
    public static KeyValuePair<string, string> Setting(string text)
    {
        var eq = text.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0)
        {
            throw new ClientInputException($"--setting '{Shown(text)}' is not name=value (for example --setting pool_recycle=3600).");
        }

        return new(text[..eq].Trim(), text[(eq + 1)..].Trim());
    }

    private static (string? User, string? Password) UserInfo(string userInfo)
    {
        if (userInfo.Length == 0)
        {
            return (null, null);
        }

        var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
        return colon < 0
            ? (Uri.UnescapeDataString(userInfo), null)
            : (Uri.UnescapeDataString(userInfo[..colon]), Uri.UnescapeDataString(userInfo[(colon + 1)..]));
    }

    private static List<KeyValuePair<string, string>> Query(string query)
    {
        var settings = new List<KeyValuePair<string, string>>();
        foreach (var part in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new ClientInputException($"--connection's query parameter '{Shown(Uri.UnescapeDataString(part))}' is not name=value.");
            }

            settings.Add(new(Unescape(part[..eq]), Unescape(part[(eq + 1)..])));
        }

        return settings;
    }

    private static string Unescape(string s) => Uri.UnescapeDataString(s.Replace('+', ' '));

    /// <summary>A setting as a message may show it: nothing after a name that looks like a password's.</summary>
    private static string Shown(string text) =>
        text.Contains("pass", StringComparison.OrdinalIgnoreCase) || text.Contains("pwd", StringComparison.OrdinalIgnoreCase) ? "(a password setting, not shown)" : text;
}
