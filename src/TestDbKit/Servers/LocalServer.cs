using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using Microsoft.Extensions.Logging;
using TestDbKit.Diagnostics;

namespace TestDbKit.Servers;

/// <summary>
/// A server process the kit runs from the machine's binaries, in a throwaway data directory on a free
/// port of 127.0.0.1. A <see cref="Watchdog"/> removes it if this process dies first, and the next start
/// sweeps away anything a dead run still left behind.
/// </summary>
[UnsupportedOSPlatform("windows")]
internal sealed class LocalServer : ServerInstance
{
    private const int MaxPortAttempts = 5;

    private readonly LocalRecipe _recipe;
    private readonly IReadOnlyDictionary<string, string> _settings;
    private Watchdog? _watchdog;
    private readonly ILogger _logger;
    private Process? _process;
    private int? _attachedPid; // a kept server an earlier run started: no Process of ours
    private int _disposed;

    private LocalServer(LocalRecipe recipe, LocalLayout layout, string password, IReadOnlyDictionary<string, string> settings, Watchdog? watchdog, ILogger logger)
    {
        _recipe = recipe;
        Layout = layout;
        Password = password;
        _settings = settings;
        _watchdog = watchdog;
        _logger = logger;
    }

    public LocalLayout Layout { get; }

    public int Port { get; private set; }

    /// <summary>The server's process id (the postmaster / mariadbd itself, not a wrapper).</summary>
    public override int? ProcessId => _process?.Id ?? _attachedPid;

    /// <summary>Set when the server is kept between runs (<see cref="DbServerOptions.Reuse"/>): it outlives this run.</summary>
    internal override Reuse.KeptServer? Kept => _kept;

    private Reuse.KeptServer? _kept;

    /// <summary>The administrator's password, for the reuse state (a file only the user can read).</summary>
    internal string AdminPassword => Password;

    public override string Folder => Layout.Root;

    public override DbServerProvider Provider => DbServerProvider.Local;

    public override bool IsOwned => true;

    public override string AdminConnectionString =>
        _recipe.Dialect.BuildConnectionString("127.0.0.1", Port, _recipe.AdminUser, Password, null, "testdbkit-admin");

    public override string Description => $"{_recipe.Dialect.Name} on 127.0.0.1:{Port} (Local: {_recipe.Description}, data in {Layout.DataDirectory})";

    private string Password { get; set; }

    /// <summary>
    /// The default data root: one folder per OS user in shared memory (<c>/dev/shm</c>) when it has room,
    /// else in the temp folder. Test data is thrown away, and on a RAM file system initdb takes half the time.
    /// </summary>
    public static string DefaultDataRoot()
    {
        var folder = "testdbkit-" + (Environment.IsPrivilegedProcess ? "root" : Environment.UserName);
        const long room = 2L << 30; // containers often get a 64 MB /dev/shm: too small to be worth it
        try
        {
            if (Directory.Exists("/dev/shm") && new DriveInfo("/dev/shm").AvailableFreeSpace > room)
            {
                return Path.Combine("/dev/shm", folder);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // Not usable: fall back to the temp folder.
        }

        return Path.Combine(Path.GetTempPath(), folder);
    }

    public static async Task<LocalServer> StartAsync(LocalRecipe recipe, Options.ResolvedServerOptions resolved, ILogger logger, Func<int>? portSource, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var options = resolved.Options;
        var root = resolved.DataRoot ?? DefaultDataRoot();
        var layout = new LocalLayout(Path.Combine(root, $"{recipe.Dialect.Key}-{Secrets.NewId()}"));
        CreateDirectories(root, layout, recipe.RunAs);
        SweepStale(root, logger);

        Watchdog? watchdog;
        try
        {
            watchdog = Watchdog.TryStart();
            watchdog?.WatchDirectory(layout.Root);
        }
        catch (Exception e) when (e is IOException or System.ComponentModel.Win32Exception)
        {
            Directory.Delete(layout.Root, recursive: true);
            throw new ServerStartException($"Could not start the watchdog process (/bin/sh) that guards {layout.Root}: {e.Message}");
        }

        var server = new LocalServer(recipe, layout, Secrets.NewPassword(), options.Settings, watchdog, logger);
        try
        {
            var since = Sessions.SessionTrace.Start();
            server.Password = await PristineDataFolders.InitializeAsync(recipe, layout, root, options.StartTimeout, logger, ct).ConfigureAwait(false);
            Sessions.SessionTrace.Lap("server: data folder (initdb, install-db)", ref since);
            for (var attempt = 1; ; attempt++)
            {
                var port = options.Port ?? (portSource ?? Ports.Free)();
                try
                {
                    await server.LaunchAsync(port, options.StartTimeout, ct).ConfigureAwait(false);
                    Sessions.SessionTrace.Lap("server: launch until it accepts", ref since);
                    Log.ServerStarted(logger, server.Description, clock.ElapsedMilliseconds);
                    return server;
                }
                catch (ServerStartException e) when (e.PortConflict && options.Port is null && attempt < MaxPortAttempts)
                {
                    // Someone took the port between our choice and the server's bind: choose again.
                    Log.PortTaken(logger, port);
                }
            }
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A server an earlier run started and kept (<see cref="Reuse.ServerKeeping"/> checked it): this run uses it,
    /// and leaves it running.</summary>
    internal static LocalServer Attach(LocalRecipe recipe, LocalLayout layout, string password, int port, int pid, IReadOnlyDictionary<string, string> settings, Reuse.KeptServer kept, ILogger logger) =>
        new(recipe, layout, password, settings, watchdog: null, logger) { Port = port, _attachedPid = pid, _kept = kept };

    /// <summary>The server is kept from now on: its data folder's owner becomes the idle watcher (so no later start
    /// sweeps it while the watcher lives), and the run's watchdog lets go of it.</summary>
    internal void HandOver(Reuse.KeptServer kept, int watcherPid, string watcherStart)
    {
        File.WriteAllText(Layout.OwnerFile, $"{watcherPid} {watcherStart}");
        _kept = kept;
        _watchdog?.Disarm();
        _watchdog = null;
    }

    /// <summary>Hands a path to the OS user the server runs as.</summary>
    public static void GiveTo(string path, string? user)
    {
        if (user is not null && Native.LookupUser(user) is var (uid, gid))
        {
            Native.Chown(path, uid, gid);
        }
    }

    public override async Task CrashAsync(CancellationToken ct)
    {
        RefuseIfKept("crash");
        // The whole process group at once: a postmaster killed alone leaves backends holding its memory.
        await StopAsync(Native.SIGKILL, ct).ConfigureAwait(false);
        try
        {
            await LaunchAsync(Port, TimeSpan.FromSeconds(60), ct).ConfigureAwait(false);
        }
        catch (ServerStartException e) when (_recipe.RepairAfterCrash(Layout, e.Message) is { } repair)
        {
            Log.RepairedAfterCrash(_logger, Description, repair);
            await LaunchAsync(Port, TimeSpan.FromSeconds(60), ct).ConfigureAwait(false);
        }
    }

    public override async Task RestartAsync(CancellationToken ct)
    {
        RefuseIfKept("restart");
        await StopAsync(_recipe.RestartSignal, ct).ConfigureAwait(false);
        await LaunchAsync(Port, TimeSpan.FromSeconds(60), ct).ConfigureAwait(false);
    }

    public override async Task FreezeAsync(CancellationToken ct)
    {
        RefuseIfKept("freeze");
        SignalAll(Native.SIGSTOP);
        try
        {
            await WaitUntilStoppedAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            // Nobody gets a handle to thaw it with: never leave a server stopped behind a failed freeze.
            SignalAll(Native.SIGCONT);
            throw;
        }
    }

    /// <summary>kill() returns before the signal is acted on: a thread running on another core may still answer
    /// a query. Waits until every thread of every process of the server is stopped.</summary>
    private async Task WaitUntilStoppedAsync(CancellationToken ct)
    {
        var members = ProcessTree(_process?.Id ?? throw new InvalidOperationException($"{Description} is not running."));
        var clock = Stopwatch.StartNew();
        while (!members.All(AllThreadsStopped))
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(10))
            {
                throw new InvalidOperationException($"{Description} was not stopped 10 s after SIGSTOP.");
            }

            await Task.Delay(1, ct).ConfigureAwait(false);
        }

        static bool AllThreadsStopped(int pid)
        {
            try
            {
                return Directory.EnumerateDirectories($"/proc/{pid}/task").All(task =>
                {
                    var stat = File.ReadAllText(Path.Combine(task, "stat"));
                    return stat[stat.LastIndexOf(')') + 2] is 'T' or 't' or 'Z' or 'X';
                });
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return true; // the process (or the thread) is gone
            }
        }
    }

    public override Task ThawAsync(CancellationToken ct)
    {
        SignalAll(Native.SIGCONT);
        return Task.CompletedTask;
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        if (_kept is { } kept)
        {
            // Kept for later runs: this run only stops using it; its idle watcher stops it.
            kept.Unregister();
            _attachedPid ??= _process?.Id;
            _process?.Dispose();
            _process = null;
            return;
        }

        await StopProcessAsync().ConfigureAwait(false);
        try
        {
            Directory.Delete(Layout.Root, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
            // Never created, or already swept.
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Leave it to the watchdog, which runs as the same user and retries after the server is gone.
            Log.DeleteFailed(_logger, Layout.Root, e.Message);
            _watchdog?.Trigger();
            _watchdog?.Dispose();
            return;
        }

        _watchdog?.Dispose();
    }

    /// <summary>Server faults would reach later runs too: a kept server is the shared one, where the kit refuses them
    /// anyway; this guards the provider itself.</summary>
    private void RefuseIfKept(string what)
    {
        if (_kept is not null)
        {
            throw new NotSupportedException(
                $"Cannot {what} {Description}: it is kept between runs (TESTDBKIT_REUSE). Server faults need a server of the test's own: [DedicatedServer].");
        }
    }

    private async Task LaunchAsync(int port, TimeSpan timeout, CancellationToken ct)
    {
        Port = port;
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        // exec keeps the pid: the process .NET watches is the server itself. setsid keeps a terminal's
        // Ctrl+C from reaching it before the kit (or the watchdog) stops it in order.
        psi.ArgumentList.Add("log=$1; shift; exec \"$@\" </dev/null >>\"$log\" 2>&1");
        psi.ArgumentList.Add("sh");
        psi.ArgumentList.Add(Layout.LogFile);
        if (File.Exists("/usr/bin/setsid"))
        {
            psi.ArgumentList.Add("/usr/bin/setsid");
        }

        foreach (var arg in _recipe.ServerCommand(Layout, port, _settings))
        {
            psi.ArgumentList.Add(arg);
        }

        if (_recipe.RunAs is not null)
        {
            psi.UserName = _recipe.RunAs;
            psi.WorkingDirectory = Layout.Root;
        }

        var logStart = File.Exists(Layout.LogFile) ? new FileInfo(Layout.LogFile).Length : 0;
        _process = Process.Start(psi) ?? throw new ServerStartException($"Could not start {psi.FileName}.");
        _watchdog?.WatchProcess(_process.Id, _recipe.StopSignal);
        await File.WriteAllTextAsync(Layout.PidFile, _process.Id.ToString(CultureInfo.InvariantCulture), ct).ConfigureAwait(false);

        var dialect = _recipe.Dialect;
        var probe = dialect.ForProbe(AdminConnectionString, TimeSpan.FromSeconds(5));
        var clock = Stopwatch.StartNew();
        var delay = TimeSpan.FromMilliseconds(10);
        Exception? last = null;
        while (true)
        {
            if (_process.HasExited)
            {
                var log = LogSince(logStart);
                var exitCode = _process.ExitCode;
                _process.Dispose();
                _process = null;
                throw new ServerStartException(
                    $"The {dialect.Name} server exited with code {exitCode} while starting on 127.0.0.1:{port}. The end of its log:\n{log}",
                    _recipe.IsPortConflict(log));
            }

            try
            {
                await using var connection = dialect.CreateConnection(probe);
                await connection.OpenAsync(ct).ConfigureAwait(false);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                last = e;
            }

            if (clock.Elapsed > timeout)
            {
                throw new ServerStartException(
                    $"The {dialect.Name} server on 127.0.0.1:{port} accepted no connection within {timeout.TotalSeconds:0} s " +
                    $"(last error: {Secrets.Redact(last.Message, Password)}). The end of its log:\n{LogSince(logStart)}\n" +
                    "A slow machine may need a longer DbServerOptions.StartTimeout.");
            }

            // Poll the connection, but wake at once if the process exits.
            await Task.WhenAny(Task.Delay(delay, ct), _process.WaitForExitAsync(ct)).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
            // A refused connection costs next to nothing: poll often, so the start is seen within 20 ms of being done.
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromMilliseconds(20).Ticks));
        }
    }

    private string LogSince(long offset) => Secrets.Redact(ProcessRunner.TailOfFile(Layout.LogFile, offset), Password);

    private async Task StopProcessAsync()
    {
        var process = _process;
        if (process is null)
        {
            return;
        }

        try
        {
            if (!process.HasExited)
            {
                SignalAll(Native.SIGCONT); // a frozen server cannot act on a signal
                Native.Signal(process.Id, _recipe.StopSignal);
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    Log.StopTimedOut(_logger, Description);
                    process.Kill();
                    await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            process.Dispose();
            _process = null;
        }
    }

    /// <summary>Signals the server and every process it started. (Process groups do not do: PostgreSQL
    /// puts each backend in a group of its own.)</summary>
    private void SignalAll(int signal)
    {
        var pid = _process?.Id ?? throw new InvalidOperationException($"{Description} is not running.");
        foreach (var member in ProcessTree(pid))
        {
            Native.Signal(member, signal);
        }
    }

    /// <summary>Stops the server with <paramref name="signal"/> and waits until none of its processes is left.</summary>
    private async Task StopAsync(int signal, CancellationToken ct)
    {
        var process = _process ?? throw new InvalidOperationException($"{Description} is not running.");
        var members = ProcessTree(process.Id);
        SignalAll(Native.SIGCONT);
        if (signal == Native.SIGKILL)
        {
            SignalAll(signal);
        }
        else
        {
            Native.Signal(process.Id, signal); // a clean shutdown is the server's own business
        }

        await process.WaitForExitAsync(ct).ConfigureAwait(false);
        process.Dispose();
        _process = null;
        var clock = Stopwatch.StartNew();
        while (members.Any(Native.IsAlive))
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new InvalidOperationException($"Processes of the stopped server ({string.Join(", ", members.Where(Native.IsAlive))}) did not exit within 30 s.");
            }

            await Task.Delay(10, ct).ConfigureAwait(false); // children exit on their own after the parent
        }
    }

    /// <summary>A process and all its descendants, from /proc.</summary>
    private static List<int> ProcessTree(int root)
    {
        var children = new Dictionary<int, List<int>>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var parent = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], CultureInfo.InvariantCulture);
                if (!children.TryGetValue(parent, out var list))
                {
                    children[parent] = list = [];
                }

                list.Add(pid);
            }
            catch (Exception e) when (e is IOException or FormatException)
            {
                // Exited while we looked.
            }
        }

        var tree = new List<int> { root };
        for (var i = 0; i < tree.Count; i++)
        {
            if (children.TryGetValue(tree[i], out var list))
            {
                tree.AddRange(list);
            }
        }

        return tree;
    }

    private static void CreateDirectories(string root, LocalLayout layout, string? runAs)
    {
        try
        {
            if (!Directory.Exists(root))
            {
                // Traversable for the server's OS user, listable only by us.
                Directory.CreateDirectory(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
            }

            else if (runAs is not null && (File.GetUnixFileMode(root) & UnixFileMode.OtherExecute) == 0)
            {
                // The server's OS user must be able to pass through to its own folder.
                File.SetUnixFileMode(root, File.GetUnixFileMode(root) | UnixFileMode.OtherExecute);
            }

            Directory.CreateDirectory(layout.Root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            GiveTo(layout.Root, runAs);
            File.WriteAllText(layout.OwnerFile, $"{Environment.ProcessId} {Native.StartTimeOf(Environment.ProcessId)}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ServerStartException(
                $"Could not create the data directory {layout.Root}: {e.Message} " +
                "Set TESTDBKIT_DATA_ROOT (DbServerOptions.DataRoot) to a writable folder with a few hundred MB free.");
        }
    }

    /// <summary>Removes the servers and folders of runs whose process is gone (killed with its watchdog).</summary>
    private static void SweepStale(string root, ILogger logger)
    {
        foreach (var dir in SafeEnumerate(root))
        {
            var owner = Path.Combine(dir, "owner");
            if (!File.Exists(owner))
            {
                continue; // being created right now, or not ours
            }

            try
            {
                var parts = File.ReadAllText(owner).Split(' ');
                var ownerPid = int.Parse(parts[0], CultureInfo.InvariantCulture);
                if (Native.IsAlive(ownerPid) && Native.StartTimeOf(ownerPid) == parts.ElementAtOrDefault(1))
                {
                    continue;
                }

                var pidFile = Path.Combine(dir, "server.pid");
                if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile), out var serverPid) && Native.IsAlive(serverPid)
                    && File.ReadAllText($"/proc/{serverPid}/cmdline").Contains(dir, StringComparison.Ordinal))
                {
                    foreach (var member in ProcessTree(serverPid))
                    {
                        Native.Signal(member, Native.SIGCONT); // a frozen server's children too: each leads a session of its own
                    }

                    Native.Signal(serverPid, Native.SIGKILL);
                }

                Directory.Delete(dir, recursive: true);
                Log.SweptStale(logger, dir, ownerPid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                Log.SweepFailed(logger, dir, e.Message);
            }
        }

        static IEnumerable<string> SafeEnumerate(string root)
        {
            try
            {
                return Directory.GetDirectories(root);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return [];
            }
        }
    }
}
