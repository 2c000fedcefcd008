using System.Data.Common;
using System.Globalization;
using System.Runtime.Versioning;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using MySqlConnector;
using Testcontainers.MySql;
using TestDbKit.Servers;

namespace TestDbKit.Engines;

/// <summary>MySQL and MariaDB: MySqlConnector, <c>mariadbd</c> / <c>mysqld</c>, the official MySQL image (or a
/// MariaDB one that keeps its entrypoint's contract).</summary>
internal sealed class MySqlModule : EngineModule
{
    public static readonly MySqlModule Instance = new();

    private readonly FlavourCache _flavours = new();

    public override EngineDialect Dialect => MySqlDialect.Instance;

    public override string DefaultImage => "mysql:8.4";

    public override int ContainerPort => 3306;

    public override string AdminUser => "root";

    // Written to the OS at each commit, flushed once a second: a server crash loses no commit. loose-userstat:
    // MariaDB then counts the rows each table had changed, which is how the tracker finds the tables a test
    // wrote to without a trigger on every row (MySqlTracker); MySQL, which has no such option, starts anyway.
    public override IReadOnlyList<KeyValuePair<string, string>> ServerTuning { get; } =
    [
        new("innodb_flush_log_at_trx_commit", "2"),
        new("innodb_doublewrite", "0"),
        new("max_connections", "300"),
        new(LoosePrefix + "userstat", "1"),
        // The per-database settings hook, again at every restart (a SET GLOBAL is lost). On the first start the
        // procedure does not exist yet, which harms nobody: only non-administrative users run init_connect, and the
        // kit creates its test user after preparation has created the procedure.
        new("init_connect", MySqlSessionSettings.Hook),
    ];

    /// <summary>Marks an option the server may not know, which it then ignores instead of refusing to start.</summary>
    public const string LoosePrefix = "loose-";

    public override IEnumerable<string> SettingArguments(IEnumerable<KeyValuePair<string, string>> settings) =>
        settings.Select(s => $"--{s.Key}={s.Value}");

    public override IContainer BuildContainer(ContainerRequest request) =>
        request.Apply(
            new MySqlBuilder(request.Image).WithUsername(AdminUser).WithPassword(request.Password).WithDatabase("testdbkit"),
            ContainerPort,
            "/var/lib/mysql", // the official MySQL and MariaDB images' data folder
            SettingArguments(ServerTuning.Concat(request.Settings)))
            .Build();

    public override string? FlavourVariable => ConnectionVariable + "_FLAVOUR";

    [UnsupportedOSPlatform("windows")]
    public override LocalRecipe LocateLocal(Options.Sourced? binDirectory, Options.Sourced? flavour) => MySqlRecipe.Locate(binDirectory, flavour, this);

    public override DriverPoolMetrics PoolMetrics => MySqlPoolMetrics.Instance;

    public override (string Setting, string LostError) IdleTimeoutAdvice =>
        ("wait_timeout", "'MySQL server has gone away' / 'Lost connection'");

    public override Task<ServerFlavour> FlavourOfAsync(DbConnection connection, CancellationToken ct) =>
        _flavours.GetAsync(FlavourCache.KeyOf(Dialect, connection), () => DetectAsync(connection, ct));

    /// <summary>
    /// What a server the kit started gets once: MariaDB's <c>metadata_lock_info</c> plugin, which lists, live,
    /// which sessions hold a table of a database (the sessions inside a transaction there). INNODB_TRX, the only
    /// other list of open transactions, is a copy that InnoDB refreshes only after 0.1 s without readers, so
    /// parallel resets reading it keep it stale. Installed plugins stay installed across restarts. MySQL has no
    /// such plugin: the tracker then falls back to INNODB_TRX. The server's flavour is asked afresh (a new server
    /// may have the port of an old one) and remembered. Then the per-database session settings
    /// (<see cref="MySqlSessionSettings"/>): the control schema, its procedure, and the init_connect hook, which
    /// the server's start options also carry (<see cref="ServerTuning"/>) so that it survives a restart.
    /// </summary>
    internal async Task PrepareOwnedServerAsync(string adminConnectionString, CancellationToken ct)
    {
        await using var admin = await Dialect.OpenAsync(adminConnectionString, ct).ConfigureAwait(false);
        var flavour = await DetectAsync(admin, ct).ConfigureAwait(false);
        if (flavour.Kind == ServerKind.MariaDb && !flavour.ListsLocksLive)
        {
            try
            {
                await admin.ExecuteAsync("INSTALL SONAME 'metadata_lock_info'", ct).ConfigureAwait(false);
                flavour = await DetectAsync(admin, ct).ConfigureAwait(false);
            }
            catch (MySqlException e) when (e.ErrorCode is MySqlErrorCode.CannotOpenLibrary)
            {
                // A build without the plugin.
            }
        }

        _flavours.Set(FlavourCache.KeyOf(Dialect, admin), flavour);
        await MySqlSessionSettings.InstallAsync(admin, flavour, ct).ConfigureAwait(false);
    }

    /// <summary>Asks the server what it is: MariaDB says so in its version; its live lock list is a plugin.</summary>
    private static async Task<ServerFlavour> DetectAsync(DbConnection connection, CancellationToken ct)
    {
        var answer = await connection.ReadColumnAsync(
            "SELECT VERSION(), (SELECT COUNT(*) FROM information_schema.PLUGINS WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE')",
            r => (Version: r.GetString(0), Locks: Convert.ToInt64(r.GetValue(1), CultureInfo.InvariantCulture) > 0), ct).ConfigureAwait(false);
        var (version, locks) = answer[0];
        var mariaDb = version.Contains("MariaDB", StringComparison.OrdinalIgnoreCase);
        return new ServerFlavour(
            mariaDb ? ServerKind.MariaDb : ServerKind.MySql,
            HasRowCounters: mariaDb,
            ListsLocksLive: locks,
            StatementTimeoutCoversAll: mariaDb);
    }
}
