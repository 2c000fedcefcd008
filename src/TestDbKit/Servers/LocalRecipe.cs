using System.Runtime.Versioning;
using System.Diagnostics;
using TestDbKit.Engines;

namespace TestDbKit.Servers;

/// <summary>The files of one local server: everything lives under <see cref="Root"/> and goes with it.</summary>
internal sealed record LocalLayout(string Root)
{
    public string DataDirectory => Path.Combine(Root, "data");

    public string LogFile => Path.Combine(Root, "server.log");

    public string PidFile => Path.Combine(Root, "server.pid");

    public string OwnerFile => Path.Combine(Root, "owner");

    public string Socket => Path.Combine(Root, "mysqld.sock");
}

/// <summary>How to initialise and run one engine's server binaries. Found by <see cref="Locate"/>; each engine
/// supplies its own (<see cref="EngineModule.LocateLocal"/>).</summary>
[UnsupportedOSPlatform("windows")]
internal abstract class LocalRecipe(EngineModule module)
{
    /// <summary>Maximum length of a Unix socket path on Linux, minus a margin.</summary>
    protected const int MaxSocketPath = 100;

    /// <summary>The engine whose binaries these are.</summary>
    public EngineModule Module { get; } = module;

    public EngineDialect Dialect => Module.Dialect;

    /// <summary>What was found, for messages ("PostgreSQL binaries in /usr/lib/postgresql/15/bin").</summary>
    public abstract string Description { get; }

    /// <summary>The OS user the server runs as, or null for the current one.</summary>
    public virtual string? RunAs => null;

    /// <summary>The signal that stops the server fast (data is thrown away) but cleanly (no leaked IPC).</summary>
    public abstract int StopSignal { get; }

    /// <summary>The signal that shuts the server down cleanly, keeping its data, for a restart.</summary>
    public abstract int RestartSignal { get; }

    /// <summary>The administrator the kit connects as.</summary>
    public string AdminUser => Module.AdminUser;

    /// <summary>Creates the data directory's content and sets the administrator's password.</summary>
    public abstract Task InitializeAsync(LocalLayout layout, string password, TimeSpan timeout, CancellationToken ct);

    /// <summary>The server's command line. It runs in the foreground and logs to standard error.</summary>
    public abstract IReadOnlyList<string> ServerCommand(LocalLayout layout, int port, IReadOnlyDictionary<string, string> settings);

    /// <summary>After a crash the kit caused (SIGKILL), the server would not start and said <paramref name="log"/>:
    /// repairs what the engine's crash recovery cannot, in <paramref name="layout"/>, and says what it did, or returns
    /// null when there is nothing to repair.</summary>
    public virtual string? RepairAfterCrash(LocalLayout layout, string log) => null;

    /// <summary>Whether a log says the port was already taken.</summary>
    public virtual bool IsPortConflict(string log) => log.Contains("Address already in use", StringComparison.OrdinalIgnoreCase);

    /// <summary>Finds the binaries for <paramref name="engine"/>, or says where it looked and how to install them.</summary>
    public static LocalRecipe Locate(DbEngine engine, Options.Sourced? binDirectory, Options.Sourced? flavour = null) =>
        EngineRegistry.Module(engine).LocateLocal(binDirectory, flavour);

    /// <summary>Runs a set-up tool and turns a failure into a message with its output.</summary>
    protected async Task RunToolAsync(string what, ProcessStartInfo psi, LocalLayout layout, TimeSpan timeout, CancellationToken ct)
    {
        var result = await ProcessRunner.RunAsync(psi, timeout, ct).ConfigureAwait(false);
        if (result.ExitCode != 0)
        {
            throw new ServerStartException(
                $"{what} failed (exit code {result.ExitCode}) in {layout.Root}. Its output ends with:\n{result.Output}\n" +
                Advice(result.Output));
        }
    }

    /// <summary>What to do about common set-up failures.</summary>
    protected internal string Advice(string output)
    {
        if (output.Contains("No space left", StringComparison.OrdinalIgnoreCase) || output.Contains("out of disk space", StringComparison.OrdinalIgnoreCase))
        {
            return "The data folder is full: free space there, or set TESTDBKIT_DATA_ROOT (DbServerOptions.DataRoot) to a folder with room.";
        }

        if (output.Contains("Read-only file system", StringComparison.OrdinalIgnoreCase) || output.Contains("Permission denied", StringComparison.OrdinalIgnoreCase))
        {
            return "The data folder is not writable for the server: set TESTDBKIT_DATA_ROOT (DbServerOptions.DataRoot) to a writable folder.";
        }

        return $"Check the binaries ({Module.BinVariable}) and the data folder ({Options.KitEnvironment.DataRoot}).";
    }

    protected ProcessStartInfo Tool(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        if (RunAs is not null)
        {
            psi.UserName = RunAs;
            psi.WorkingDirectory = "/";
        }

        return psi;
    }
}

/// <summary>A provider could not start or reach a server (Local binaries missing or failing, a container that
/// would not start, an External server that does not answer); <see cref="DbServer"/> turns it into a
/// <see cref="DbServerException"/> with the provider's context.</summary>
internal sealed class ServerStartException(string message, bool portConflict = false) : Exception(message)
{
    public bool PortConflict { get; } = portConflict;
}
