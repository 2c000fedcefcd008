using Microsoft.Extensions.Logging;

namespace TestDbKit;

/// <summary>
/// How to get a <see cref="DbServer"/>. Every property has a working default; <c>TESTDBKIT_*</c>
/// environment variables fill in what is not set here, so CI can switch providers without code changes.
/// </summary>
public sealed class DbServerOptions
{
    /// <summary>Which provider to use. <see cref="DbServerProvider.Auto"/> (the default) lets
    /// <c>TESTDBKIT_PROVIDER</c> decide, and otherwise picks the first provider that can serve.</summary>
    public DbServerProvider Provider { get; init; } = DbServerProvider.Auto;

    /// <summary>External: the server to use. Defaults to <c>TESTDBKIT_POSTGRES</c> / <c>TESTDBKIT_MYSQL</c>.
    /// The account must be allowed to create and drop databases.</summary>
    public string? ConnectionString { get; init; }

    /// <summary>Docker: the image to run. Defaults to <c>TESTDBKIT_POSTGRES_IMAGE</c> /
    /// <c>TESTDBKIT_MYSQL_IMAGE</c>, then to the official images (<c>postgres:17</c>, <c>mysql:8.4</c>).</summary>
    public string? Image { get; init; }

    /// <summary>Server settings applied at start (Local and Docker), for example
    /// <c>["wait_timeout"] = "5"</c> on MySQL or <c>["idle_session_timeout"] = "5s"</c> on PostgreSQL.
    /// Names are the engine's own parameter names.</summary>
    public IReadOnlyDictionary<string, string> Settings { get; init; } = new Dictionary<string, string>();

    /// <summary>Local: the folder holding the server binaries. Defaults to <c>TESTDBKIT_POSTGRES_BIN</c> /
    /// <c>TESTDBKIT_MYSQL_BIN</c>, then to a search of PATH and the usual install folders.</summary>
    public string? BinDirectory { get; init; }

    /// <summary>Local: the folder under which throwaway data directories are made. Defaults to
    /// <c>TESTDBKIT_DATA_ROOT</c>, then to <c>testdbkit-UID</c> in the system temp folder. A tmpfs
    /// (for example <c>/dev/shm</c>) makes servers faster still.</summary>
    public string? DataRoot { get; init; }

    /// <summary>Local: the TCP port on 127.0.0.1. Defaults to a free port chosen by the kit.</summary>
    public int? Port { get; init; }

    /// <summary>How long starting (or reaching) the server may take before it is given up. Default 60 s.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Where the kit logs what it does. Nothing is logged when null.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }
}
