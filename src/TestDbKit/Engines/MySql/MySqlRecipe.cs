using System.Runtime.Versioning;
using TestDbKit.Servers;

namespace TestDbKit.Engines;

/// <summary>MariaDB (<c>mariadb-install-db</c> + <c>mariadbd</c>) or MySQL 8 (<c>mysqld --initialize-insecure</c>).</summary>
[UnsupportedOSPlatform("windows")]
internal sealed class MySqlRecipe : LocalRecipe
{
    private readonly string _server;
    private readonly string? _installer; // MariaDB's install script; null for MySQL
    private readonly bool _isMariaDb;

    private MySqlRecipe(string server, string? installer, bool isMariaDb, MySqlModule module)
        : base(module)
    {
        _server = server;
        _installer = installer;
        _isMariaDb = isMariaDb;
    }

    public override string Description => $"{(_isMariaDb ? "MariaDB" : "MySQL")} server {_server}";

    public override int StopSignal => Native.SIGTERM;

    public override int RestartSignal => Native.SIGTERM;

    public static MySqlRecipe Locate(Options.Sourced? binDirectory, MySqlModule module)
    {
        var explicitDir = binDirectory?.Value;
        List<string> folders = explicitDir is { Length: > 0 }
            ? [explicitDir, Path.Combine(explicitDir, "..", "bin"), Path.Combine(explicitDir, "..", "sbin"), Path.Combine(explicitDir, "..", "scripts")]
            : [.. BinaryLocator.PathFolders(), "/usr/sbin", "/usr/bin", "/usr/local/mysql/bin", "/usr/local/mariadb/bin", "/usr/local/sbin"];
        var searchable = explicitDir is { Length: > 0 } ? folders.Take(1).ToList() : folders;
        var mariadbd = BinaryLocator.Find(searchable, "mariadbd");
        var server = mariadbd ?? BinaryLocator.Find(searchable, "mysqld");
        if (server is null)
        {
            var where = explicitDir is { Length: > 0 }
                ? $"in {explicitDir} (from {binDirectory?.Source})"
                : "on PATH, in /usr/sbin or /usr/local/mysql/bin";
            throw new ServerStartException(
                $"No MySQL or MariaDB server binary (mariadbd or mysqld) {where}. " +
                "Install one (Debian/Ubuntu: sudo apt-get install -y mariadb-server, or scripts/install-servers.sh), " +
                $"or set {module.BinVariable} to the folder that holds it.");
        }

        // MySQL 8 dropped mysql_install_db (it initialises with mysqld --initialize-insecure); MariaDB ships it.
        var installer = BinaryLocator.Find(folders, "mariadb-install-db", "mysql_install_db");
        var isMariaDb = mariadbd is not null || installer is not null;
        if (isMariaDb && installer is null)
        {
            throw new ServerStartException(
                $"Found the MariaDB server {server} but not mariadb-install-db next to it or on PATH. " +
                "Install the full server package (Debian/Ubuntu: sudo apt-get install -y mariadb-server).");
        }

        return new MySqlRecipe(server, installer, isMariaDb, module);
    }

    public override async Task InitializeAsync(LocalLayout layout, string password, TimeSpan timeout, CancellationToken ct)
    {
        var tmp = Path.Combine(layout.Root, "tmp");
        Directory.CreateDirectory(tmp);
        var psi = _isMariaDb
            // A temp folder of its own: bootstraps running side by side in the shared /tmp collided on
            // internal temp-table files and failed ("Error on delete of '/tmp/#sql-temptable-…'").
            ? Tool(_installer!, ["--no-defaults", "--datadir=" + layout.DataDirectory, "--tmpdir=" + tmp, "--auth-root-authentication-method=normal", "--skip-test-db", .. RootUser()])
            : Tool(_server, ["--no-defaults", "--initialize-insecure", "--datadir=" + layout.DataDirectory, "--tmpdir=" + tmp, .. RootUser()]);
        await RunToolAsync(Path.GetFileName(psi.FileName), psi, layout, timeout, ct).ConfigureAwait(false);

        // Runs at every start, so a restart on the same data keeps working.
        var initFile = Path.Combine(layout.Root, "init.sql");
        await File.WriteAllTextAsync(initFile, MySqlDialect.AdminBootstrapSql(password), ct).ConfigureAwait(false);
        File.SetUnixFileMode(initFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    public override IReadOnlyList<string> ServerCommand(LocalLayout layout, int port, IReadOnlyDictionary<string, string> settings)
    {
        if (layout.Socket.Length > MaxSocketPath)
        {
            throw new ServerStartException(
                $"The socket path {layout.Socket} is longer than Unix allows. Set TESTDBKIT_DATA_ROOT " +
                "(DbServerOptions.DataRoot) to a shorter folder.");
        }

        var args = new List<string>
        {
            _server,
            "--no-defaults",
            "--datadir=" + layout.DataDirectory,
            "--port=" + port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--bind-address=127.0.0.1",
            "--socket=" + layout.Socket,
            "--pid-file=" + Path.Combine(layout.Root, "mysqld.pid"),
            "--tmpdir=" + Path.Combine(layout.Root, "tmp"),
            "--init-file=" + Path.Combine(layout.Root, "init.sql"),
            "--skip-name-resolve",
        };
        args.AddRange(Module.SettingArguments(Module.ServerTuning));
        if (!_isMariaDb)
        {
            args.Add("--mysqlx=OFF"); // its second port would collide between parallel servers
            args.Add("--skip-log-bin");
        }

        args.AddRange(RootUser());
        args.AddRange(Module.SettingArguments(settings));
        return args;
    }

    /// <summary>MariaDB's Aria engine (its system tables) now and then cannot replay its log after a SIGKILL ("Aria
    /// recovery failed"; seen once in a full suite run here) and the server refuses to start. Its own advice
    /// is to delete the Aria log; the test data is InnoDB's, which recovers on its own, and Aria tables left unclean are
    /// repaired when opened.</summary>
    public override string? RepairAfterCrash(LocalLayout layout, string log)
    {
        if (!log.Contains("Aria recovery failed", StringComparison.Ordinal))
        {
            return null;
        }

        var files = Directory.EnumerateFiles(layout.DataDirectory, "aria_log*").ToList();
        foreach (var file in files)
        {
            File.Delete(file);
        }

        return $"Aria recovery failed; deleted {files.Count} Aria log file(s)";
    }

    public override bool IsPortConflict(string log) =>
        base.IsPortConflict(log) || log.Contains("Can't start server: Bind on TCP/IP port", StringComparison.Ordinal);

    private static string[] RootUser() => Environment.IsPrivilegedProcess ? ["--user=root"] : [];
}
