using System.Data.Common;
using System.Runtime.Versioning;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using Testcontainers.PostgreSql;
using TestDbKit.Servers;

namespace TestDbKit.Engines;

/// <summary>PostgreSQL: Npgsql, <c>initdb</c> + <c>postgres</c>, the official image.</summary>
internal sealed class PostgreSqlModule : EngineModule
{
    public static readonly PostgreSqlModule Instance = new();

    public override EngineDialect Dialect => PostgreSqlDialect.Instance;

    public override string DefaultImage => "postgres:17";

    public override int ContainerPort => 5432;

    public override string? OsUserVariable => ConnectionVariable + "_OS_USER";

    public override string AdminUser => "postgres";

    // No flush to disk (an OS crash loses the data, a server crash does not): fast, and a chaos test that
    // crashes the server still finds every commit it was told about. synchronous_commit=on: Testcontainers'
    // module sets it off, which acknowledges a commit before its WAL is written, so a crash fault would lose
    // writes the client saw succeed (the later setting wins).
    public override IReadOnlyList<KeyValuePair<string, string>> ServerTuning { get; } =
    [
        new("fsync", "off"),
        new("full_page_writes", "off"),
        new("synchronous_commit", "on"),
        new("max_connections", "200"),
    ];

    public override IEnumerable<string> SettingArguments(IEnumerable<KeyValuePair<string, string>> settings) =>
        settings.SelectMany(s => new[] { "-c", $"{s.Key}={s.Value}" });

    public override IContainer BuildContainer(ContainerRequest request) =>
        request.Apply(
            new PostgreSqlBuilder(request.Image).WithUsername(AdminUser).WithPassword(request.Password).WithDatabase("postgres"),
            ContainerPort,
            request.ImageVariable("PGDATA", "/var/lib/postgresql/data"), // where the official image's entrypoint puts it
            SettingArguments(ServerTuning.Concat(request.Settings)))
            .Build();

    [UnsupportedOSPlatform("windows")]
    public override LocalRecipe LocateLocal(Options.Sourced? binDirectory, Options.Sourced? flavour) => flavour is null
        ? PostgresRecipe.Locate(binDirectory, this)
        : throw new ServerStartException($"{flavour.Value.Source} is '{flavour.Value.Value}', but PostgreSQL has one flavour: the flavour picks between MariaDB and MySQL. Remove it for PostgreSQL.");

    public override DriverPoolMetrics PoolMetrics => NpgsqlPoolMetrics.Instance;

    public override (string Setting, string LostError) IdleTimeoutAdvice =>
        ("idle_session_timeout", "57P05 / 'terminating connection due to idle-session timeout'");

    // One server kind behind this engine: nothing to ask.
    public override Task<ServerFlavour> FlavourOfAsync(DbConnection connection, CancellationToken ct) => Task.FromResult(ServerFlavour.PostgreSql);
}
