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

    /// <summary>Local, MySQL: which server runs where MariaDB and MySQL are both installed: <c>mariadb</c> or
    /// <c>mysql</c>. Defaults to <c>TESTDBKIT_MYSQL_FLAVOUR</c>, then to MariaDB's <c>mariadbd</c> when present, else
    /// <c>mysqld</c>. A flavour that is not installed fails the start with what to do; PostgreSQL takes none.</summary>
    public string? Flavour { get; init; }

    /// <summary>Local: the folder under which throwaway data directories are made. Defaults to
    /// <c>TESTDBKIT_DATA_ROOT</c>, then to <c>testdbkit-UID</c> in the system temp folder. A tmpfs
    /// (for example <c>/dev/shm</c>) makes servers faster still.</summary>
    public string? DataRoot { get; init; }

    /// <summary>Local: the TCP port on 127.0.0.1. Defaults to a free port chosen by the kit.</summary>
    public int? Port { get; init; }

    /// <summary>How long starting (or reaching) the server may take before it is given up. Default 60 s.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Local, shared server only: keep the server and its built templates alive after the run, for the next
    /// run on this machine to find (a developer's warm loop). Null: <c>TESTDBKIT_REUSE</c> decides (off when unset).
    /// Ignored, with a log line, when <c>CI</c> is set to a true value, on the Docker and External providers, and for a
    /// server of the test's own (<c>[DedicatedServer]</c>, <see cref="DbServer.StartAsync"/>). Data never carries over:
    /// a run's first lease drops the databases of runs that ended; only templates are kept, keyed by a hash of the schema
    /// code. The server is private to the OS user and stops after <see cref="ReuseIdle"/> without a run.</summary>
    public bool? Reuse { get; init; }

    /// <summary>With <see cref="Reuse"/>: how long the server lives on without a run using it. Null:
    /// <c>TESTDBKIT_REUSE_IDLE</c> (seconds, or <c>90s</c>, <c>15m</c>, <c>1h</c>), else 15 minutes.</summary>
    public TimeSpan? ReuseIdle { get; init; }

    /// <summary>With <see cref="Reuse"/>: the per-user folder holding the reused servers' state (port, process, admin
    /// password). Null: <c>TESTDBKIT_REUSE_DIR</c>, else <c>$XDG_RUNTIME_DIR/testdbkit-reuse</c>, else the data root
    /// with <c>-reuse</c> appended. It must be the user's own and closed to others (0700); a state anyone else could
    /// have written is never used.</summary>
    public string? ReuseFolder { get; init; }

    /// <summary>Where the kit logs what it does. Nothing is logged when null.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }
}
