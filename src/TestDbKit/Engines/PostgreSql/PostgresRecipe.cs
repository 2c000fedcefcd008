using System.Runtime.Versioning;
using System.Diagnostics;
using TestDbKit.Servers;

namespace TestDbKit.Engines;

/// <summary>PostgreSQL's <c>initdb</c> and <c>postgres</c>, tuned for throwaway test data.</summary>
[UnsupportedOSPlatform("windows")]
internal sealed class PostgresRecipe : LocalRecipe
{
    private readonly string _bin;

    private PostgresRecipe(string bin, string? runAs, PostgreSqlModule module)
        : base(module)
    {
        _bin = bin;
        RunAs = runAs;
    }

    public override string Description => $"PostgreSQL binaries in {_bin}";

    public override string? RunAs { get; }

    // SIGQUIT is PostgreSQL's immediate shutdown: no checkpoint, but shared memory is released.
    public override int StopSignal => Native.SIGQUIT;

    // SIGINT is PostgreSQL's fast shutdown: clients are disconnected, data is checkpointed.
    public override int RestartSignal => Native.SIGINT;

    public static PostgresRecipe Locate(Options.Sourced? binDirectory, PostgreSqlModule module)
    {
        var explicitDir = binDirectory?.Value;
        var folders = explicitDir is { Length: > 0 }
            ? [explicitDir]
            : BinaryLocator.Versioned("/usr/lib/postgresql", "bin")
                .Concat(BinaryLocator.PathFolders())
                .Concat(BinaryLocator.Versioned("/usr/pgsql", "bin")) // some RPM layouts use /usr/pgsql-NN
                .Concat(["/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin"])
                .Distinct()
                .ToList();
        var bin = folders.FirstOrDefault(f => BinaryLocator.IsExecutable(Path.Combine(f, "postgres")) && BinaryLocator.IsExecutable(Path.Combine(f, "initdb")));
        if (bin is null)
        {
            var where = explicitDir is { Length: > 0 }
                ? $"in {explicitDir} (from {binDirectory?.Source})"
                : "in /usr/lib/postgresql/*/bin, PATH and /usr/local/pgsql/bin";
            throw new ServerStartException(
                $"No PostgreSQL server binaries (postgres and initdb) {where}. " +
                "Install them (Debian/Ubuntu: sudo apt-get install -y postgresql, or scripts/install-servers.sh), " +
                $"or set {module.BinVariable} to the folder that holds them.");
        }

        string? runAs = null;
        if (Environment.IsPrivilegedProcess)
        {
            // PostgreSQL refuses to run as root; the packages create a 'postgres' user for it.
            runAs = Options.KitEnvironment.OsUser(module.Engine) ?? "postgres";
            if (Native.LookupUser(runAs) is null)
            {
                throw new ServerStartException(
                    $"PostgreSQL refuses to run as root, and there is no OS user '{runAs}' to run it as. " +
                    "Create one (useradd --system --home /var/lib/postgresql postgres), name another with " +
                    Options.KitEnvironment.OsUserVariable(module.Engine) + ", or run the tests as a non-root user.");
            }
        }

        return new PostgresRecipe(bin, runAs, module);
    }

    public override async Task InitializeAsync(LocalLayout layout, string password, TimeSpan timeout, CancellationToken ct)
    {
        var pwFile = Path.Combine(layout.Root, "pw");
        await File.WriteAllTextAsync(pwFile, password, ct).ConfigureAwait(false);
        File.SetUnixFileMode(pwFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        LocalServer.GiveTo(pwFile, RunAs);
        try
        {
            var psi = Tool(
                Path.Combine(_bin, "initdb"),
                "-D", layout.DataDirectory,
                "-U", AdminUser,
                "--pwfile=" + pwFile,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions");
            await RunToolAsync("initdb", psi, layout, timeout, ct).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(pwFile);
        }
    }

    public override IReadOnlyList<string> ServerCommand(LocalLayout layout, int port, IReadOnlyDictionary<string, string> settings)
    {
        var args = new List<string>
        {
            Path.Combine(_bin, "postgres"),
            "-D", layout.DataDirectory,
            "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-c", "listen_addresses=127.0.0.1",
            // TCP only: the kit never uses the socket, and a long data path would overflow its name.
            "-c", "unix_socket_directories=",
            "-c", "logging_collector=off", // the log goes to standard error, which the kit reads
        };
        args.AddRange(Module.SettingArguments(Module.ServerTuning.Concat(settings)));
        return args;
    }
}
