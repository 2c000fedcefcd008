using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using TestDbKit.Diagnostics;
using TestDbKit.Options;

namespace TestDbKit.Servers.Reuse;

/// <summary>
/// Starts the run's shared Local server the reuse way: finds the server an earlier run kept (the state is trusted, the
/// server process, its port and its password check out) and attaches to it, or starts a fresh one and keeps it (state
/// written, idle watcher started, the run's watchdog disarmed). One flock on the state folder makes runs that start at
/// once agree on one server. A state that is not the user's own is never used: the run gets a server of its own that is
/// not kept.
/// </summary>
[UnsupportedOSPlatform("windows")]
internal static class ServerKeeping
{
    private static readonly string[] StateFiles = ["state", "password", "test-password", "lock"];

    /// <summary>The state folder's root for <paramref name="resolved"/>: code's or the variable's, else the user's runtime
    /// folder, else beside the data root.</summary>
    public static string RootFor(ResolvedServerOptions resolved) =>
        resolved.Reuse.Folder
        ?? (KitEnvironment.RuntimeFolder is { } runtime ? Path.Combine(runtime, "testdbkit-reuse") : null)
        ?? (resolved.DataRoot ?? LocalServer.DefaultDataRoot()).TrimEnd('/') + "-reuse";

    /// <summary>The state folder of the server these binaries and options would make: engine, binaries (as the pristine
    /// folders key them), settings, port and data root.</summary>
    public static string FolderFor(LocalRecipe recipe, ResolvedServerOptions resolved)
    {
        var key = new StringBuilder()
            .Append(PristineDataFolders.KeyOf(recipe)).Append('|')
            .Append(resolved.Key.Settings).Append('|')
            .Append(resolved.Options.Port).Append('|')
            .Append(resolved.DataRoot);
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key.ToString())))[..16];
        return Path.Combine(RootFor(resolved), $"{recipe.Dialect.Key}-{hash}");
    }

    public static async Task<LocalServer> StartAsync(LocalRecipe recipe, ResolvedServerOptions resolved, ILogger logger, Func<int>? portSource, CancellationToken ct)
    {
        var since = Sessions.SessionTrace.Start();
        var root = RootFor(resolved);
        var folder = FolderFor(recipe, resolved);
        if (await WhyUntrustedAsync(root, folder, ct).ConfigureAwait(false) is { } why)
        {
            Log.ReuseStateRefused(logger, folder, why);
            return await LocalServer.StartAsync(recipe, resolved, logger, portSource, ct).ConfigureAwait(false);
        }

        // No second check under the lock: in a folder that is the user's own and closed to others, only the user (or
        // root) can have changed anything meanwhile, and the kit writes its files 0600.
        await using var held = await LockAsync(folder, resolved.Options.StartTimeout, ct).ConfigureAwait(false);

        Sessions.SessionTrace.Lap("reuse: trust checks and lock", ref since);
        if (KeptState.Read(folder) is { } state)
        {
            var staleBecause = await WhyStaleAsync(recipe, state, ct).ConfigureAwait(false);
            Sessions.SessionTrace.Lap("reuse: state, process, port and password checked", ref since);
            if (staleBecause is null)
            {
                var kept = new KeptServer(folder, attached: true, state.TestPassword);
                kept.Register();
                var attached = LocalServer.Attach(recipe, new LocalLayout(state.Layout), state.Password, state.Port, state.Pid, resolved.Options.Settings, kept, logger);
                Log.ReusedServer(logger, attached.Description, folder);
                return attached;
            }

            if (IsProcess(state.Pid, state.PidStart) && new KeptServer(folder, attached: false, null).HasOtherLiveRuns())
            {
                // Busy (too many connections) or slow, not dead: other runs are using it. Leave it to them and run on a
                // server of this run's own, not kept.
                Log.ReuseStateRefused(logger, folder, $"the kept server did not answer ({staleBecause}) but other runs use it");
                return await LocalServer.StartAsync(recipe, resolved, logger, portSource, ct).ConfigureAwait(false);
            }

            Log.ReuseStateStale(logger, folder, staleBecause);
            await StopStaleAsync(recipe, state, folder, ct).ConfigureAwait(false);
        }

        var server = await LocalServer.StartAsync(recipe, resolved, logger, portSource, ct).ConfigureAwait(false);
        try
        {
            await KeepAsync(recipe, server, folder, resolved.Reuse.Idle, ct).ConfigureAwait(false);
            Log.ReuseKept(logger, server.Description, resolved.Reuse.Idle, folder);
        }
        catch (Exception e)
        {
            // Nothing is kept: without its state, a watcher that started exits, and the run's watchdog (armed until the
            // hand-over, the last step) stops the server with the run.
            Clear(folder);
            if (e is OperationCanceledException)
            {
                await server.DisposeAsync().ConfigureAwait(false);
                throw;
            }

            // The server works; it is just not kept.
            Log.ReuseStateRefused(logger, folder, e.Message);
        }

        return server;
    }

    /// <summary>Why the state must not be used: the root and the server's folder must be the user's own and closed to
    /// others (0700), and so must its files that exist (0600); see <see cref="FolderTrust"/>.</summary>
    private static async Task<string?> WhyUntrustedAsync(string root, string folder, CancellationToken ct)
    {
        const UnixFileMode own = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        try
        {
            Directory.CreateDirectory(root, own);
            Directory.CreateDirectory(folder, own);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"{folder} cannot be made: {e.Message}";
        }

        List<string> paths = [root, folder];
        paths.AddRange(StateFiles.Select(f => Path.Combine(folder, f)).Where(File.Exists));
        return await FolderTrust.WhyUntrustedAsync(paths, FolderTrust.OthersAnything, ct).ConfigureAwait(false);
    }

    /// <summary>Takes the state folder's lock (flock, shared with the idle watcher's <c>flock</c>), waiting for another
    /// run that is starting or attaching.</summary>
    internal static async Task<FileStream> LockAsync(string folder, TimeSpan timeout, CancellationToken ct)
    {
        var path = Path.Combine(folder, "lock");
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return new FileStream(path, new FileStreamOptions
                {
                    Mode = FileMode.OpenOrCreate,
                    Access = FileAccess.ReadWrite,
                    Share = FileShare.None, // .NET takes flock(LOCK_EX) for it on Unix
                    UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
                });
            }
            catch (IOException) when (clock.Elapsed < timeout)
            {
                await Task.Delay(10, ct).ConfigureAwait(false); // another run holds it for a server start at most
            }
            catch (IOException e)
            {
                throw new ServerStartException(
                    $"Waited {timeout.TotalSeconds:0} s for the reuse lock {path} ({e.Message}). Another test run holds it; " +
                    "if none is running, delete the folder, or set TESTDBKIT_REUSE=0.");
            }
        }
    }

    /// <summary>Why the kept server cannot be used: its process or its idle watcher is gone, its port is another
    /// process's, or its password is refused. Null when it checks out.</summary>
    private static async Task<string?> WhyStaleAsync(LocalRecipe recipe, KeptState state, CancellationToken ct)
    {
        if (!IsProcess(state.Pid, state.PidStart) || !CommandLineHas(state.Pid, state.Layout))
        {
            return $"its server process {state.Pid} is gone";
        }

        if (!IsProcess(state.WatcherPid, state.WatcherStart))
        {
            return $"its idle watcher {state.WatcherPid} is gone";
        }

        if (!Listens(state.Pid, state.Port))
        {
            return $"port {state.Port} is not its server's";
        }

        var dialect = recipe.Dialect;
        // The server's own admin string, pooled: the session this check opens is the one the pool's set-up uses next.
        var cs = dialect.BuildConnectionString("127.0.0.1", state.Port, recipe.AdminUser, state.Password, null, "testdbkit-admin");
        try
        {
            await using var connection = dialect.CreateConnection(cs);
            await connection.OpenAsync(ct).ConfigureAwait(false);
            return null;
        }
        catch (Exception e) when (e is System.Data.Common.DbException or IOException or TimeoutException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            return $"it refused the kept password ({Secrets.Redact(e.Message, state.Password)})";
        }
    }

    /// <summary>Stops what is left of a stale kept server (only a process that is still that server) and forgets it.</summary>
    private static async Task StopStaleAsync(LocalRecipe recipe, KeptState state, string folder, CancellationToken ct)
    {
        if (IsProcess(state.WatcherPid, state.WatcherStart))
        {
            Native.Signal(state.WatcherPid, Native.SIGKILL);
        }

        if (IsProcess(state.Pid, state.PidStart) && CommandLineHas(state.Pid, state.Layout))
        {
            Native.Signal(state.Pid, Native.SIGCONT);
            Native.Signal(state.Pid, recipe.StopSignal);
            var clock = Stopwatch.StartNew();
            while (IsProcess(state.Pid, state.PidStart) && clock.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(20, ct).ConfigureAwait(false);
            }

            Native.Signal(state.Pid, Native.SIGKILL);
        }

        try
        {
            if (Directory.Exists(state.Layout))
            {
                Directory.Delete(state.Layout, recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The next start's sweep removes it: its owner (the watcher) is gone.
        }

        Clear(folder);
    }

    /// <summary>Writes the state of the fresh <paramref name="server"/>, starts its idle watcher, and hands the data
    /// folder from the run's watchdog to the watcher.</summary>
    private static async Task KeepAsync(LocalRecipe recipe, LocalServer server, string folder, TimeSpan idle, CancellationToken ct)
    {
        Clear(folder);
        var pid = server.ProcessId ?? throw new IOException("the server has no process");
        var watcherId = Secrets.NewId();
        var state = new KeptState(pid, Native.StartTimeOf(pid) ?? "", server.Port, server.Layout.Root, 0, "", watcherId, server.AdminPassword, null);
        FolderTrust.WritePrivate(Path.Combine(folder, "password"), state.Password);
        state.Write(folder); // before the watcher starts: it exits when the state does not name it
        var (watcherPid, watcherStart) = await IdleWatcher.StartAsync(folder, watcherId, pid, server.Layout.Root, recipe.StopSignal, idle, ct).ConfigureAwait(false);
        (state with { WatcherPid = watcherPid, WatcherStart = watcherStart }).Write(folder);
        var kept = new KeptServer(folder, attached: false, testPassword: null);
        kept.Register();
        server.HandOver(kept, watcherPid, watcherStart);
    }

    /// <summary>Forgets a kept server: its state, passwords, runs and templates (the lock file stays: runs wait on it).</summary>
    private static void Clear(string folder)
    {
        foreach (var file in new[] { "state", "password", "test-password" })
        {
            File.Delete(Path.Combine(folder, file));
        }

        foreach (var dir in new[] { "runs", "templates" })
        {
            if (Directory.Exists(Path.Combine(folder, dir)))
            {
                Directory.Delete(Path.Combine(folder, dir), recursive: true);
            }
        }
    }

    /// <summary>Whether <paramref name="pid"/> is still the process that started at <paramref name="start"/> (ids are reused).</summary>
    internal static bool IsProcess(int pid, string start) => pid > 0 && Native.IsAlive(pid) && Native.StartTimeOf(pid) == start;

    private static bool CommandLineHas(int pid, string text)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Contains(text, StringComparison.Ordinal);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Whether process <paramref name="pid"/> holds the socket listening on <paramref name="port"/> (IPv4): the
    /// port may have been taken by another server since, even one made from the same pristine folder (same password).</summary>
    private static bool Listens(int pid, int port)
    {
        try
        {
            var suffix = ":" + port.ToString("X4", CultureInfo.InvariantCulture);
            var inodes = new HashSet<string>(StringComparer.Ordinal);
            foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length > 9 && f[3] == "0A" && f[1].EndsWith(suffix, StringComparison.Ordinal))
                {
                    inodes.Add(f[9]);
                }
            }

            return inodes.Count > 0 && Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Any(fd =>
                new FileInfo(fd).LinkTarget is { } target && target.StartsWith("socket:[", StringComparison.Ordinal) && inodes.Contains(target[8..^1]));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}

/// <summary>What a kept server's state file says (and its password files).</summary>
[UnsupportedOSPlatform("windows")]
internal sealed record KeptState(int Pid, string PidStart, int Port, string Layout, int WatcherPid, string WatcherStart, string WatcherId, string Password, string? TestPassword)
{
    public static KeptState? Read(string folder)
    {
        try
        {
            var path = Path.Combine(folder, "state");
            if (!File.Exists(path))
            {
                return null;
            }

            var fields = File.ReadAllLines(path).Select(l => l.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
            var testPassword = Path.Combine(folder, "test-password");
            return new KeptState(
                int.Parse(fields["pid"], CultureInfo.InvariantCulture), fields["pid-start"], int.Parse(fields["port"], CultureInfo.InvariantCulture),
                fields["layout"], int.Parse(fields["watcher"], CultureInfo.InvariantCulture), fields["watcher-start"], fields["watcher-id"],
                File.ReadAllText(Path.Combine(folder, "password")).Trim(),
                File.Exists(testPassword) ? File.ReadAllText(testPassword).Trim() : null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or KeyNotFoundException or OverflowException)
        {
            return null; // a broken state is no state: a fresh server replaces it
        }
    }

    /// <summary>The state file, without the passwords (they have files of their own).</summary>
    public void Write(string folder) => FolderTrust.WritePrivate(Path.Combine(folder, "state"), string.Create(CultureInfo.InvariantCulture,
        $"pid={Pid}\npid-start={PidStart}\nport={Port}\nlayout={Layout}\nwatcher={WatcherPid}\nwatcher-start={WatcherStart}\nwatcher-id={WatcherId}\n"));

    /// <summary>Never the passwords.</summary>
    public override string ToString() => $"kept server {Pid} on port {Port}";
}
