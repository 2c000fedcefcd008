using System.CommandLine;
using TestDbKit.Diagnostics;
using TestDbKit.Engines;

namespace TestDbKit.Cli;

/// <summary>What <c>--connection</c> named, read once: the engine (from <c>--engine</c>, or from a URL's scheme)
/// and the driver's connection string.</summary>
internal sealed record ConnectionInput(DbEngine Engine, string ConnectionString)
{
    public EngineDialect Dialect => EngineDialect.For(Engine);

    /// <summary>The <c>--connection</c> option of <c>fault</c> and <c>chaos</c>: a driver connection string or a URL.</summary>
    public static Option<string> Option(string description) => new("--connection")
    {
        Description = description + "; a driver connection string (with --engine) or a URL: postgresql://USER:PASSWORD@HOST:PORT/DB, mysql://...",
        Required = true,
    };

    /// <summary>Adds to <paramref name="command"/> the check that <paramref name="connection"/> is well formed, so a
    /// malformed connection string or URL is a usage error (exit 64) found before anything runs, and never printed
    /// with its password.</summary>
    public static void Validate(Command command, Option<string> engine, Option<string> connection)
    {
        command.Validators.Add(r =>
        {
            if (r.GetValue(connection) is { } text && TryRead(text, r.GetValue(engine), out _) is { } error)
            {
                r.AddError(error);
            }
        });
    }

    /// <summary>The input of a parse that passed <see cref="Validate"/>.</summary>
    public static ConnectionInput Read(ParseResult result, Option<string> engine, Option<string> connection)
    {
        _ = TryRead(result.GetValue(connection)!, result.GetValue(engine), out var input);
        return input!;
    }

    /// <summary>Null and the input, or the reason the text is not a connection string or URL of the engine.</summary>
    public static string? TryRead(string text, string? engineKey, out ConnectionInput? input)
    {
        input = null;
        var named = engineKey is null ? (DbEngine?)null : EngineOption.Parse(engineKey);
        if (DatabaseUrl.IsUrl(text))
        {
            try
            {
                var url = DatabaseUrl.Parse(text); // its query (?sslmode=…) is a client's, not the kit's, and is left out
                var engine = url.Engine;
                if (named is { } other && other != engine)
                {
                    return $"--connection: the URL is a {EngineDialect.For(engine).Name} one, and --engine says {EngineDialect.For(other).Name}; drop --engine or make them agree.";
                }

                input = new ConnectionInput(engine, url.ConnectionString("testdbkit"));
                return null;
            }
            catch (FormatException e)
            {
                return "--connection: " + e.Message;
            }
        }

        if (named is not { } chosen)
        {
            return "--connection: a driver connection string needs --engine " + string.Join(" or --engine ", EngineRegistry.Keys) +
                " (a URL such as postgresql://USER:PASSWORD@HOST:PORT/DB names its engine itself).";
        }

        var dialect = EngineDialect.For(chosen);
        try
        {
            _ = dialect.Parse(text);
        }
        catch (ArgumentException e)
        {
            return Secrets.Redact($"--connection is not a {dialect.Name} connection string: {e.Message}", dialect.PasswordOfOrNull(text));
        }

        input = new ConnectionInput(chosen, text);
        return null;
    }
}
