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
    private readonly string _choice;

    private MySqlRecipe(string server, string? installer, bool isMariaDb, MySqlModule module, string choice)
        : base(module)
    {
        _server = server;
        _installer = installer;
        _isMariaDb = isMariaDb;
        _choice = choice;
    }

    public override string Description => $"{Flavour} server {_server} ({_choice})";

    /// <summary>"MariaDB" or "MySQL": the flavour of the binary the kit runs.</summary>
    public string Flavour => _isMariaDb ? "MariaDB" : "MySQL";

    public override int StopSignal => Native.SIGTERM;

    public override int RestartSignal => Native.SIGTERM;

    /// <summary>
    /// Finds the server to run. Where both flavours are installed (a MariaDB beside a preinstalled MySQL 8, as on
    /// GitHub's runners), <c>TESTDBKIT_MYSQL_FLAVOUR</c> (mariadb or mysql) picks; unset, MariaDB's <c>mariadbd</c>
    /// wins, then the first <c>mysqld</c>. The description (the start-up line) names the binary, its flavour, why it
    /// was chosen and any other flavour found.
    /// </summary>
    public static MySqlRecipe Locate(Options.Sourced? binDirectory, Options.Sourced? flavour, MySqlModule module)
    {
        var explicitDir = binDirectory?.Value;
        List<string> folders = explicitDir is { Length: > 0 }
            ? [explicitDir, Path.Combine(explicitDir, "..", "bin"), Path.Combine(explicitDir, "..", "sbin"), Path.Combine(explicitDir, "..", "scripts")]
            : [.. BinaryLocator.PathFolders(), "/usr/sbin", "/usr/bin", "/usr/local/mysql/bin", "/usr/local/mariadb/bin", "/usr/local/sbin"];
        var searchable = explicitDir is { Length: > 0 } ? folders.Take(1).ToList() : folders;
        var variable = flavour?.Source ?? module.FlavourVariable!; // where the choice came from, for messages
        var wanted = flavour?.Value.Trim().ToLowerInvariant();
        if (wanted is not (null or "mariadb" or "mysql"))
        {
            throw new ServerStartException($"{variable} is '{wanted}'; use mariadb or mysql, or leave it unset for whichever server is installed (MariaDB first).");
        }

        var candidates = Candidates(searchable);
        var where = explicitDir is { Length: > 0 }
            ? $"in {explicitDir} (from {binDirectory?.Source})"
            : "on PATH, in /usr/sbin or /usr/local/mysql/bin";
        if (candidates.Count == 0)
        {
            throw new ServerStartException(
                $"No MySQL or MariaDB server binary (mariadbd or mysqld) {where}. " +
                "Install one (Debian/Ubuntu: sudo apt-get install -y mariadb-server, or scripts/install-servers.sh), " +
                $"or set {module.BinVariable} to the folder that holds it.");
        }

        var chosen = wanted is null ? candidates.FirstOrDefault(c => c.IsMariaDb) ?? candidates[0] : candidates.FirstOrDefault(c => c.IsMariaDb == (wanted == "mariadb"));
        if (chosen is null)
        {
            var found = string.Join(", ", candidates.Select(c => c.ToString()));
            throw new ServerStartException(wanted == "mariadb"
                ? $"{variable}=mariadb, but the only server {where} is {found}. Install MariaDB (scripts/install-servers.sh says how beside a " +
                  $"preinstalled MySQL), set {module.BinVariable} to a folder holding mariadbd, or unset {variable} to run MySQL."
                : $"{variable}=mysql, but the only server {where} is {found}. Install MySQL's server and set {module.BinVariable} to the folder " +
                  $"holding its mysqld, or unset {variable} to run MariaDB.");
        }

        // MySQL 8 dropped mysql_install_db (it initialises with mysqld --initialize-insecure); MariaDB ships it.
        var installer = chosen.IsMariaDb ? BinaryLocator.Find(folders, "mariadb-install-db", "mysql_install_db") : null;
        if (chosen.IsMariaDb && installer is null)
        {
            throw new ServerStartException(
                $"Found the MariaDB server {chosen.Path} but not mariadb-install-db next to it or on PATH. " +
                "Install the full server package (Debian/Ubuntu: sudo apt-get install -y mariadb-server).");
        }

        var why = wanted is not null ? $"{variable}={wanted}" : chosen.IsMariaDb ? "MariaDB first" : "the only flavour found";
        var other = candidates.FirstOrDefault(c => c.IsMariaDb != chosen.IsMariaDb);
        var also = other is null ? "" : $"; also found {other}, which {variable}={(other.IsMariaDb ? "mariadb" : "mysql")} picks";
        return new MySqlRecipe(chosen.Path, installer, chosen.IsMariaDb, module, $"{why}{also}");
    }

    /// <summary>The server binaries in <paramref name="folders"/>, <c>mariadbd</c>s first, one per real file (Debian's
    /// <c>mysqld</c> is a link to <c>mariadbd</c>), each with its flavour.</summary>
    private static List<Candidate> Candidates(List<string> folders)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var found = new List<Candidate>();
        foreach (var name in new[] { "mariadbd", "mysqld" })
        {
            foreach (var folder in folders)
            {
                var path = Path.Combine(folder, name);
                if (BinaryLocator.IsExecutable(path) && seen.Add(RealPath(path)))
                {
                    found.Add(new Candidate(path, name == "mariadbd" || IsMariaDb(path)));
                }
            }
        }

        return found;
    }

    private static string RealPath(string path) =>
        File.ResolveLinkTarget(path, returnFinalTarget: true) is { } target ? target.FullName : Path.GetFullPath(path);

    /// <summary>Whether a <c>mysqld</c> is MariaDB's: a link to <c>mariadbd</c>, or a server that says so in its
    /// version (asked once per binary, a few milliseconds; only where no link tells).</summary>
    private static bool IsMariaDb(string mysqld) =>
        Path.GetFileName(RealPath(mysqld)) == "mariadbd" || Versions.GetOrAdd(RealPath(mysqld), static p => VersionOf(p)).Contains("MariaDB", StringComparison.OrdinalIgnoreCase);

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> Versions = new(StringComparer.Ordinal);

    private static string VersionOf(string server)
    {
        try
        {
            using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(server, "--version")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            })!;
            var output = process.StandardOutput.ReadToEnd(); // short: one line; its end is the process's
            return process.WaitForExit(5000) ? output : "";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return ""; // not runnable: taken as MySQL, and its start will say what is wrong
        }
    }

    private sealed record Candidate(string Path, bool IsMariaDb)
    {
        public override string ToString() => $"{(IsMariaDb ? "MariaDB" : "MySQL")} {Path}";
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
