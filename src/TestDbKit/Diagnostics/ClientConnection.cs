using TestDbKit.Engines;

namespace TestDbKit.Diagnostics;

/// <summary>
/// Where a client connects, as a user gives it to doctor: a .NET connection string (the engine then comes from
/// <c>--engine</c>), or a URL in the forms other ecosystems take (<c>postgresql://</c>, <c>postgresql+psycopg2://</c>,
/// <c>mysql://</c>, <c>mysql+pymysql://</c>: <c>scheme://user:password@host:port/database?name=value</c>, user and
/// password percent-encoded; read by <see cref="DatabaseUrl"/>), whose query parameters are read as the client's settings. Anything malformed throws
/// <see cref="ClientInputException"/> with a message that says what is wrong and never holds the password.
/// </summary>
/// <param name="Engine">The engine the connection is for.</param>
/// <param name="ConnectionString">The .NET driver's connection string for the same server, user and database.</param>
/// <param name="Settings">The URL's query parameters, in order.</param>
/// <param name="Password">The password, to keep out of messages.</param>
internal sealed record ClientConnection(DbEngine Engine, string ConnectionString, IReadOnlyList<KeyValuePair<string, string>> Settings, string? Password)
{
    public static bool IsUrl(string value) => DatabaseUrl.IsUrl(value);

    /// <summary>Reads <paramref name="value"/>; <paramref name="engine"/> is what <c>--engine</c> named, if anything.</summary>
    public static ClientConnection Parse(string value, DbEngine? engine)
    {
        if (!IsUrl(value))
        {
            if (engine is not { } e)
            {
                throw new ClientInputException($"--connection is a connection string, so doctor needs --engine {string.Join(" or --engine ", EngineRegistry.Keys)} (or give a URL: {DatabaseUrl.KnownSchemes}).");
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

        DatabaseUrl url;
        try
        {
            url = DatabaseUrl.Parse(value);
        }
        catch (FormatException x)
        {
            throw new ClientInputException("--connection: " + x.Message);
        }

        if (engine is { } named && named != url.Engine)
        {
            throw new ClientInputException($"--connection is a {url.Scheme}:// URL, but --engine names {EngineRegistry.For(named).Name}.");
        }

        return new ClientConnection(url.Engine, url.ConnectionString("testdbkit-doctor"), url.Settings, url.Password);
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

    private static string Shown(string text) => DatabaseUrl.Shown(text);
}
