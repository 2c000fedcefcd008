using System.Data.Common;
using Microsoft.Extensions.Logging;

namespace TestDbKit;

/// <summary>What the databases of a <see cref="DatabasePool"/> hold and how they are kept apart.</summary>
public sealed class DatabasePoolOptions
{
    private readonly Func<DbConnection, Task>? _createSchema;
    private readonly Func<SchemaTarget, CancellationToken, Task>? _buildSchema;

    /// <summary>Creates the schema on an open connection to a new, empty database. PostgreSQL runs it once,
    /// on the template; MySQL (which has no template databases) replays it on each pooled database.
    /// Rows it inserts (seed data) are copied aside, and a reset that empties their table puts them back,
    /// with the ids they had. Set this or <see cref="BuildSchema"/>, not both.</summary>
    /// <exception cref="ArgumentException"><see cref="BuildSchema"/> is set too.</exception>
    public Func<DbConnection, Task>? CreateSchema
    {
        get => _createSchema;
        init => _createSchema = value is not null && _buildSchema is not null ? throw BothSchemaHooks() : value;
    }

    /// <summary>Builds the schema in a new, empty database given as a <see cref="SchemaTarget"/>: its name and a
    /// connection string, for code that opens connections of its own (EF Core's <c>MigrateAsync</c> or
    /// <c>EnsureCreatedAsync</c> on a context made from <see cref="SchemaTarget.ConnectionString"/>). Runs where
    /// <see cref="CreateSchema"/> would (once on PostgreSQL's template, on each database on MySQL), and seed rows
    /// are kept the same way. On PostgreSQL the kit ends every session still on the template when it returns.
    /// Set this or <see cref="CreateSchema"/>, not both.</summary>
    /// <exception cref="ArgumentException"><see cref="CreateSchema"/> is set too.</exception>
    public Func<SchemaTarget, CancellationToken, Task>? BuildSchema
    {
        get => _buildSchema;
        init => _buildSchema = value is not null && _createSchema is not null ? throw BothSchemaHooks() : value;
    }

    /// <summary>Files or folders the schema hook reads by a path computed at run time, such as
    /// <c>Path.Combine(AppContext.BaseDirectory, "schema.sql")</c>. On a server kept between runs
    /// (<c>TESTDBKIT_REUSE=1</c>) their contents join the hash of the schema code, so a kept template is rebuilt when
    /// they change; without them, a hook that reads a file by a computed path keeps no template. A folder counts with
    /// every file under it; relative paths are from the current directory. Files the hook reads by a literal path
    /// (<c>File.ReadAllText("schema.sql")</c>) count without this.</summary>
    public IReadOnlyList<string>? SchemaFiles { get; init; }

    /// <summary>How tests are kept apart; <see cref="IsolationMode.Reset"/> by default.</summary>
    public IsolationMode Isolation { get; init; } = IsolationMode.Reset;

    /// <summary>How many databases may be leased at once; a lease waits when all are out. Default: twice
    /// the processor count, at least 4, which covers xunit's and NUnit's default parallelism.</summary>
    public int? MaxDatabases { get; init; }

    /// <summary>Whether a reset restarts the sequences and AUTO_INCREMENT counters of the tables it empties,
    /// so ids are the same in every run. Default true.</summary>
    public bool ResetSequences { get; init; } = true;

    /// <summary>The janitor drops databases that crashed runs left behind (names carry the kit's prefix and
    /// their creation time) once they are older than this. Default 3 hours: longer than any test run that
    /// might share the server.</summary>
    public TimeSpan StaleDatabaseAge { get; init; } = TimeSpan.FromHours(3);

    /// <summary>Where the pool logs what it does. Nothing is logged when null.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Reset with Respawn instead of the kit's change tracking (tests and benchmarks).</summary>
    internal bool UseRespawn { get; init; }

    /// <summary>Track with triggers even where the server counts written rows itself (tests and benchmarks).</summary>
    internal bool TrackWithTriggers { get; init; }

    private static ArgumentException BothSchemaHooks() => new(
        "DatabasePoolOptions: set CreateSchema or BuildSchema, not both. Keep CreateSchema to build on an open connection " +
        "the kit gives you; keep BuildSchema to build from the database's connection string (EF Core's MigrateAsync or " +
        "EnsureCreatedAsync); a BuildSchema hook can still open a connection itself (SchemaTarget.OpenConnectionAsync).", nameof(BuildSchema));

    internal int EffectiveMaxDatabases => MaxDatabases ?? Math.Max(4, Environment.ProcessorCount * 2);
}
