using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using TestDbKit.Engines;
using TestDbKit.Faults;

namespace TestDbKit.Servers;

/// <summary>What <c>testdbkit serve</c> registers about its server (never the password); <paramref name="Proxy"/> is
/// the port on 127.0.0.1 of the kit's TCP proxy in front of it (<c>serve --proxy</c>), else null.</summary>
internal sealed record ServedServer(string Engine, string Host, int Port, int Pid, string Provider, string Socket, int? Proxy = null);

/// <summary>
/// How another process learns that a server belongs to the kit and gets server-level faults done on it.
/// <c>testdbkit serve</c> writes <c>PID.json</c> into a per-user run folder (mode 0700) and answers on a Unix
/// socket beside it; only the process that started the server can crash, restart or freeze it, so
/// <c>testdbkit chaos</c> asks it. A server with no live registration is not the kit's.
/// </summary>
/// <remarks>The words on the socket are <c>hello</c> and the names of the fault catalogue's server-scope kinds
/// (<see cref="ServerFaultKind"/>): <c>NAME</c> for an instant one, <c>NAME MS</c> for a lasting one, which the
/// owner holds for MS (at most a minute) and undoes itself, and <c>NAME hold</c> for a lasting one held as long as
/// the asker wants: the owner answers <c>{"ok":true,"started":true}</c> once the fault is in effect, then undoes it
/// when the asker writes <c>end</c> or its end of the socket closes (it died), and answers again. When the owner runs
/// the kit's TCP proxy (<c>serve --proxy</c>), the network kinds of the catalogue (<see cref="NetworkFaultKind"/>)
/// act on it: <c>network-reset</c> at once (the answer counts the connections reset), a lasting one as
/// <c>NAME hold</c> or <c>NAME hold VALUE</c> (the latency in ms, the bytes a second, the bytes before a cut). Network
/// faults do not wait for one another nor for a server fault: a latency and a stall can be in effect at once. The
/// setting kinds (<see cref="TimeoutFault"/>, <see cref="ReadOnly"/>) are held the same way when the owner was given
/// <see cref="SettingFaults"/> (<c>testdbkit serve</c> is): <c>NAME hold [ms=MS] [db=DATABASE]</c>, set by the owner on
/// the kit's databases (or the one named) and taken back when the asker lets go or dies, so a killed
/// <c>testdbkit fault</c> or <c>chaos</c> leaves no setting behind.</remarks>
internal sealed class ServerControl : IAsyncDisposable
{
    private static readonly TimeSpan LongestFreeze = TimeSpan.FromMinutes(1);

    private readonly DbServer _server;
    private readonly NetworkFaults? _proxy;
    private readonly SettingFaults? _settings;
    private readonly Socket _listener;
    private readonly string _registration;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);
    private readonly Task _loop;

    private ServerControl(DbServer server, NetworkFaults? proxy, SettingFaults? settings, Socket listener, string registration, ServedServer served)
    {
        _server = server;
        _proxy = proxy;
        _settings = settings;
        _listener = listener;
        _registration = registration;
        Served = served;
        _loop = Task.Run(() => AcceptAsync(_stop.Token));
    }

    public ServedServer Served { get; }

    /// <summary>The per-user folder of registrations: <c>TESTDBKIT_RUN_DIR</c>, else
    /// <c>$XDG_RUNTIME_DIR/testdbkit</c>, else <c>~/.local/share/testdbkit/run</c>; a folder in the shared temp
    /// folder only when there is no home, since another user could create that one first.</summary>
    public static string RunFolder()
    {
        if (Options.KitEnvironment.RunFolder is { } fromEnv)
        {
            return fromEnv;
        }

        if (Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is { Length: > 0 } runtime && Directory.Exists(runtime))
        {
            return Path.Combine(runtime, "testdbkit");
        }

        var data = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify);
        return data.Length > 0
            ? Path.Combine(data, "testdbkit", "run")
            : Path.Combine(Path.GetTempPath(), "testdbkit-run-" + (Environment.IsPrivilegedProcess ? "root" : Environment.UserName));
    }

    /// <summary>Registers <paramref name="server"/> (a server this process started) and answers control requests
    /// until disposed; the network faults act on <paramref name="proxy"/>, the kit's proxy in front of it, when given, and
    /// the setting faults (timeouts, read-only) through <paramref name="settings"/>, when given.</summary>
    public static ServerControl Register(DbServer server, NetworkFaults? proxy = null, SettingFaults? settings = null)
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("Server control uses Unix sockets and file modes; it runs on Linux and macOS.");
        }

        if (!server.IsOwned)
        {
            throw new InvalidOperationException($"{server} is not a server the kit started; there is nothing to control.");
        }

        var folder = PrivateFolder();
        var pid = Environment.ProcessId;
        var socketPath = Path.Combine(folder, pid.ToString(CultureInfo.InvariantCulture) + ".sock");
        File.Delete(socketPath); // a dead process's socket with a reused pid
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(socketPath));
            File.SetUnixFileMode(socketPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(8);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        var endpoint = server.Dialect.Parse(server.AdminConnectionString);
        var served = new ServedServer(server.Engine.ToString(), endpoint.Host, endpoint.Port, pid, server.Provider.ToString(), socketPath, proxy?.Port);
        var registration = Path.Combine(folder, pid.ToString(CultureInfo.InvariantCulture) + ".json");
        var temporary = registration + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(served));
        File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.Move(temporary, registration, overwrite: true);
        return new ServerControl(server, proxy, settings, listener, registration, served);
    }

    /// <summary>The live registration of a kit server listening on <paramref name="host"/>:<paramref name="port"/>,
    /// confirmed by its owner over the socket; null when no process of the kit owns such a server.</summary>
    public static async Task<ServedServer?> FindAsync(DbEngine engine, string host, int port, CancellationToken ct)
    {
        if (!IsLoopback(host) || !Directory.Exists(RunFolder()) || (!OperatingSystem.IsWindows() && !IsPrivate(new DirectoryInfo(RunFolder()))))
        {
            return null; // the kit's servers listen on loopback only, and register only in a private folder
        }

        foreach (var file in Directory.EnumerateFiles(RunFolder(), "*.json"))
        {
            ServedServer? served;
            try
            {
                served = JsonSerializer.Deserialize<ServedServer>(await File.ReadAllTextAsync(file, ct).ConfigureAwait(false));
            }
            catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
            {
                continue;
            }

            if (served is null)
            {
                continue;
            }

            if (!Native.IsAlive(served.Pid))
            {
                TryDelete(file); // its owner died without cleaning up
                if (string.Equals(Path.GetDirectoryName(served.Socket), Path.GetDirectoryName(file), StringComparison.Ordinal))
                {
                    TryDelete(served.Socket); // never a file outside the run folder, whatever the registration says
                }
                continue;
            }

            if (served.Port != port || served.Engine != engine.ToString())
            {
                continue;
            }

            try
            {
                using var reply = await AskAsync(served, "hello", TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);
                if (reply.RootElement.GetProperty("port").GetInt32() == port)
                {
                    return served;
                }
            }
            catch (Exception e) when (e is SocketException or IOException or JsonException or KeyNotFoundException or InvalidOperationException or TimeoutException)
            {
                // Not answering: not a server we can control.
            }
        }

        return null;
    }

    /// <summary>Asks the owner of <paramref name="served"/> to inject <paramref name="kind"/> into its server (a
    /// lasting one held for <paramref name="hold"/>); returns when the fault is over: the server back (crash,
    /// restart) or the fault undone (freeze).</summary>
    public static async Task RequestAsync(ServedServer served, ServerFaultKind kind, TimeSpan hold, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(kind);
        var request = kind.Lasting ? string.Create(CultureInfo.InvariantCulture, $"{kind.Name} {(long)hold.TotalMilliseconds}") : kind.Name;
        using var reply = await AskAsync(served, request, LongestFreeze + TimeSpan.FromMinutes(1), ct).ConfigureAwait(false);
        if (!reply.RootElement.GetProperty("ok").GetBoolean())
        {
            throw new InvalidOperationException(reply.RootElement.GetProperty("error").GetString());
        }
    }

    /// <summary>Asks the owner of <paramref name="served"/> to inject the lasting <paramref name="kind"/> and hold
    /// it; returns once it is in effect. Disposing the handle asks the owner to undo it and waits until it is; if
    /// this process dies first, the owner sees its socket close and undoes it all the same.</summary>
    public static Task<IAsyncDisposable> HoldAsync(ServedServer served, ServerFaultKind kind, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(kind);
        return HoldAsync(served, kind.Name, kind.Name + " hold", ct);
    }

    /// <summary>Asks the owner of <paramref name="served"/> to inject the network fault <paramref name="kind"/> into
    /// its proxy, with <paramref name="value"/> (the latency in ms, the bytes a second, the bytes before a cut); returns
    /// once it is in effect. A lasting one is held as <see cref="HoldAsync(ServedServer, ServerFaultKind, CancellationToken)"/>
    /// holds a server fault; a reset is over at once and counts the connections it reset.</summary>
    public static async Task<FaultOutcome> NetworkAsync(ServedServer served, NetworkFaultKind kind, long? value, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(served);
        ArgumentNullException.ThrowIfNull(kind);
        if (!kind.Lasting)
        {
            using var reply = await AskAsync(served, kind.Name, LongestFreeze, ct).ConfigureAwait(false);
            if (!reply.RootElement.GetProperty("ok").GetBoolean())
            {
                throw new InvalidOperationException(reply.RootElement.GetProperty("error").GetString());
            }

            var count = reply.RootElement.TryGetProperty("count", out var c) && c.ValueKind == JsonValueKind.Number ? c.GetInt32() : (int?)null;
            return new FaultOutcome(null, count, reply.RootElement.TryGetProperty("detail", out var d) ? d.GetString() : null);
        }

        var request = value is { } v ? string.Create(CultureInfo.InvariantCulture, $"{kind.Name} hold {v}") : kind.Name + " hold";
        return new FaultOutcome(await HoldAsync(served, kind.Name, request, ct).ConfigureAwait(false));
    }

    /// <summary>Asks the owner of <paramref name="served"/> to give the kit's databases (or only
    /// <paramref name="database"/>) the setting fault <paramref name="kind"/> (a timeout of <paramref name="timeout"/>, or
    /// read-only) and hold it; returns once it is in effect. The owner takes it back when the handle is disposed or this
    /// process dies, so a setting never outlives the process that asked for it.</summary>
    public static Task<IAsyncDisposable> SettingAsync(ServedServer served, FaultKind kind, TimeSpan? timeout, string? database, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(kind);
        if (kind is not (TimeoutFault or ReadOnly))
        {
            throw new ArgumentException($"{kind.Name} is not a setting fault.", nameof(kind));
        }

        var request = new StringBuilder(kind.Name).Append(" hold");
        if (timeout is { } t)
        {
            request.Append(CultureInfo.InvariantCulture, $" ms={(long)Math.Ceiling(t.TotalMilliseconds)}");
        }

        if (database is not null)
        {
            request.Append(" db=").Append(database);
        }

        return HoldAsync(served, kind.Name, request.ToString(), ct);
    }

    private static async Task<IAsyncDisposable> HoldAsync(ServedServer served, string name, string request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(served);
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(LongestFreeze);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(served.Socket), deadline.Token).ConfigureAwait(false);
            var stream = new NetworkStream(socket, ownsSocket: true);
            var reader = new StreamReader(stream, Encoding.UTF8);
            await stream.WriteAsync(Encoding.UTF8.GetBytes(request + "\n"), deadline.Token).ConfigureAwait(false);
            using (var reply = await ReadReplyAsync(served, reader, request, deadline.Token).ConfigureAwait(false))
            {
                if (!reply.RootElement.GetProperty("ok").GetBoolean())
                {
                    throw new InvalidOperationException(reply.RootElement.GetProperty("error").GetString());
                }
            }

            return new Held(served, name, stream, reader);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task<JsonDocument> ReadReplyAsync(ServedServer served, StreamReader reader, string request, CancellationToken ct)
    {
        var line = await reader.ReadLineAsync(ct).ConfigureAwait(false)
            ?? throw new IOException($"testdbkit serve (pid {served.Pid}) closed the control socket without answering '{request}'.");
        return JsonDocument.Parse(line);
    }

    /// <summary>A lasting fault the owner holds for this process.</summary>
    private sealed class Held(ServedServer served, string name, NetworkStream stream, StreamReader reader) : IAsyncDisposable
    {
        private int _done;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0)
            {
                return;
            }

            try
            {
                using var deadline = new CancellationTokenSource(LongestFreeze);
                await stream.WriteAsync(Encoding.UTF8.GetBytes("end\n"), deadline.Token).ConfigureAwait(false);
                using var reply = await ReadReplyAsync(served, reader, name + " end", deadline.Token).ConfigureAwait(false);
                if (!reply.RootElement.GetProperty("ok").GetBoolean())
                {
                    throw new InvalidOperationException(reply.RootElement.GetProperty("error").GetString());
                }
            }
            finally
            {
                reader.Dispose();
                await stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        TryDelete(_registration);
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }

        await _oneAtATime.WaitAsync().ConfigureAwait(false); // a freeze in progress thaws before the server stops
        TryDelete(Served.Socket);
        _stop.Dispose();
    }

    internal static bool IsLoopback(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    private static async Task<JsonDocument> AskAsync(ServedServer served, string request, TimeSpan timeout, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(served.Socket), deadline.Token).ConfigureAwait(false);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            await stream.WriteAsync(Encoding.UTF8.GetBytes(request + "\n"), deadline.Token).ConfigureAwait(false);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var line = await reader.ReadLineAsync(deadline.Token).ConfigureAwait(false)
                ?? throw new IOException($"testdbkit serve (pid {served.Pid}) closed the control socket without answering '{request}'.");
            return JsonDocument.Parse(line);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"testdbkit serve (pid {served.Pid}) did not answer '{request}' within {timeout.TotalSeconds:0} s.");
        }
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static string PrivateFolder()
    {
        var folder = RunFolder();
        const UnixFileMode owner = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
        Directory.CreateDirectory(folder, owner);
        if (!IsPrivate(new DirectoryInfo(folder)))
        {
            // Anyone else who can write here could pose as the kit's server or read its registrations.
            throw new InvalidOperationException(
                $"The run folder {folder} must be a directory only its owner can use (mode 0700, not a link). Remove it, or set TESTDBKIT_RUN_DIR to a private folder.");
        }

        return folder;
    }

    /// <summary>A real directory (not a link) that only its owner can use.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static bool IsPrivate(DirectoryInfo folder) =>
        folder.LinkTarget is null
        && (folder.UnixFileMode & ~(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute)) == 0;

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Someone else cleaned it, or will.
        }
    }

    private async Task AcceptAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var client = await _listener.AcceptAsync(ct).ConfigureAwait(false);
            _ = Task.Run(() => AnswerAsync(client, ct), ct);
        }
    }

    private async Task AnswerAsync(Socket client, CancellationToken ct)
    {
        using (client)
        {
            await using var stream = new NetworkStream(client, ownsSocket: false);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            string reply;
            try
            {
                var request = await reader.ReadLineAsync(ct).ConfigureAwait(false) ?? "";
                reply = await DoAsync(request.Trim(), stream, reader, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                reply = JsonSerializer.Serialize(new { ok = false, error = e.Message });
            }

            try
            {
                await stream.WriteAsync(Encoding.UTF8.GetBytes(reply + "\n"), ct).ConfigureAwait(false);
            }
            catch (IOException)
            {
                // The asker went away.
            }
        }
    }

    private async Task<string> DoAsync(string request, NetworkStream stream, StreamReader reader, CancellationToken ct)
    {
        var parts = request.Split(' ', 2);
        if (parts[0] == "hello")
        {
            return JsonSerializer.Serialize(new { ok = true, engine = Served.Engine, port = Served.Port, provider = Served.Provider, proxy = Served.Proxy });
        }

        if (FaultCatalogue.Find(parts[0]) is NetworkFaultKind network)
        {
            return await NetworkAsync(network, parts.Length == 2 ? parts[1] : null, stream, reader, ct).ConfigureAwait(false);
        }

        if (FaultCatalogue.Find(parts[0]) is { } setting and (TimeoutFault or ReadOnly))
        {
            return await SettingAsync(setting, parts.Length == 2 ? parts[1] : null, stream, reader, ct).ConfigureAwait(false);
        }

        var kind = FaultCatalogue.Find(parts[0]) as ServerFaultKind;
        long ms = 0;
        var held = kind is { Lasting: true } && parts.Length == 2 && parts[1] == "hold";
        if (kind is null || (kind.Lasting && !held && (parts.Length != 2 || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out ms))))
        {
            var words = FaultCatalogue.All.OfType<ServerFaultKind>().Select(k => k.Lasting ? k.Name + " MS" : k.Name);
            return JsonSerializer.Serialize(new { ok = false, error = $"Unknown request '{request}': use hello, {string.Join(", ", words)} (a lasting one also as NAME hold)." });
        }

        await _oneAtATime.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var undo = (await kind.InjectHereAsync(new OwnedServer(_server), _server, ct, record: false).ConfigureAwait(false)).Undo;
            if (undo is not null)
            {
                try
                {
                    if (held)
                    {
                        // In effect now; held until the asker says "end" or goes away (a fault process that died).
                        await stream.WriteAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { ok = true, started = true }) + "\n"), ct).ConfigureAwait(false);
                        await WaitForEndAsync(reader, ct).ConfigureAwait(false);
                    }
                    else
                    {
                        // The owner undoes, not the asker: a frozen server outlives no chaos process that died.
                        await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(ms, (long)LongestFreeze.TotalMilliseconds)), ct).ConfigureAwait(false);
                    }
                }
                finally
                {
                    await undo.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
        finally
        {
            _oneAtATime.Release();
        }

        return JsonSerializer.Serialize(new { ok = true });
    }

    /// <summary>A network fault on this process's proxy: <c>network-reset</c> at once; a lasting one as <c>NAME hold</c>
    /// or <c>NAME hold VALUE</c>, answered once in effect and undone when the asker lets go or dies.</summary>
    private async Task<string> NetworkAsync(NetworkFaultKind kind, string? rest, NetworkStream stream, StreamReader reader, CancellationToken ct)
    {
        if (_proxy is null)
        {
            return JsonSerializer.Serialize(new
            {
                ok = false,
                error = $"{kind.Name} acts on the kit's TCP proxy, and this testdbkit serve (pid {Served.Pid}) runs none: start it with 'testdbkit serve --proxy' and point the clients at its proxy.",
            });
        }

        var words = rest?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
        long? value = null;
        var valid = kind.Lasting
            ? words.Length is 1 or 2 && words[0] == "hold" && (words.Length == 1 || TryValue(words[1], out value))
            : words.Length == 0;
        if (!valid)
        {
            var form = kind.Lasting ? $"{kind.Name} hold [VALUE]" : kind.Name;
            return JsonSerializer.Serialize(new { ok = false, error = $"Unknown request '{kind.Name} {rest}': use {form}." });
        }

        var outcome = await _proxy.InjectAsync(kind, value, ct).ConfigureAwait(false);
        if (outcome.Undo is { } undo)
        {
            try
            {
                await stream.WriteAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { ok = true, started = true }) + "\n"), ct).ConfigureAwait(false);
                await WaitForEndAsync(reader, ct).ConfigureAwait(false);
            }
            finally
            {
                await undo.DisposeAsync().ConfigureAwait(false);
            }
        }

        return JsonSerializer.Serialize(new { ok = true, count = outcome.Count, detail = outcome.Detail });

        static bool TryValue(string text, out long? value)
        {
            value = long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : null;
            return value is not null;
        }
    }

    /// <summary>A setting fault held for the asker: <c>NAME hold [ms=MS] [db=DATABASE]</c>, answered once in effect and
    /// taken back when the asker lets go or dies (a killed fault process must not leave a database read-only).</summary>
    private async Task<string> SettingAsync(FaultKind kind, string? rest, NetworkStream stream, StreamReader reader, CancellationToken ct)
    {
        if (_settings is null)
        {
            return JsonSerializer.Serialize(new { ok = false, error = $"This owner (pid {Served.Pid}) does not hold setting faults; run them against the server directly." });
        }

        var words = rest?.Split(' ', StringSplitOptions.RemoveEmptyEntries) ?? [];
        TimeSpan? timeout = null;
        string? database = null;
        var valid = words.Length is >= 1 and <= 3 && words[0] == "hold";
        foreach (var word in words.Skip(1))
        {
            if (word.StartsWith("ms=", StringComparison.Ordinal) && kind is TimeoutFault
                && long.TryParse(word.AsSpan(3), NumberStyles.None, CultureInfo.InvariantCulture, out var ms) && ms > 0)
            {
                timeout = TimeSpan.FromMilliseconds(ms);
            }
            else if (word.StartsWith("db=", StringComparison.Ordinal) && word.Length > 3)
            {
                database = word[3..];
            }
            else
            {
                valid = false;
            }
        }

        if (!valid)
        {
            var form = kind is TimeoutFault ? $"{kind.Name} hold [ms=MS] [db=DATABASE]" : $"{kind.Name} hold [db=DATABASE]";
            return JsonSerializer.Serialize(new { ok = false, error = $"Unknown request '{kind.Name} {rest}': use {form}." });
        }

        var undo = await _settings(kind, timeout, database, ct).ConfigureAwait(false);
        try
        {
            await stream.WriteAsync(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { ok = true, started = true }) + "\n"), ct).ConfigureAwait(false);
            await WaitForEndAsync(reader, ct).ConfigureAwait(false);
        }
        finally
        {
            await undo.DisposeAsync().ConfigureAwait(false);
        }

        return JsonSerializer.Serialize(new { ok = true });
    }

    /// <summary>Waits until the asker of a held fault writes <c>end</c> or closes its end of the socket.</summary>
    private static async Task WaitForEndAsync(StreamReader reader, CancellationToken ct)
    {
        try
        {
            while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } line && line.Trim() != "end")
            {
                // Anything else is ignored: only "end" or the socket closing ends the hold.
            }
        }
        catch (IOException)
        {
            // The asker's end broke (it died): undo.
        }
    }
}

/// <summary>How the owner of a server gives the kit's databases on it (or only <c>database</c>) a setting fault (a
/// <see cref="TimeoutFault"/> with its timeout, or <see cref="ReadOnly"/>); the handle takes it back.</summary>
internal delegate Task<IAsyncDisposable> SettingFaults(FaultKind kind, TimeSpan? timeout, string? database, CancellationToken ct);

/// <summary>The server this process started, as a target of the fault catalogue's server-scope kinds run on its
/// owner's socket (the asker checked everything else).</summary>
internal sealed class OwnedServer(DbServer server) : IFaultTarget
{
    public EngineDialect Dialect => server.Dialect;

    public NetworkFaults Network => throw new NotSupportedException("A whole server has no network proxy of the kit.");

    public string Where(FaultScope scope) => server.ToString();

    public string? Endpoint => server.Dialect.EndpointOf(server.AdminConnectionString);

    public void Consent(string what)
    {
        // The kit started this server: nobody else's sessions live on it.
    }

    public async Task ExecuteAsAdminAsync(string sql, CancellationToken ct)
    {
        await using var admin = await server.OpenAdminConnectionAsync(ct).ConfigureAwait(false);
        await admin.ExecuteAsync(sql, ct).ConfigureAwait(false);
    }

    public Task<int> EndSessionsAsync(SessionFilter filter, CancellationToken ct) => throw new NotSupportedException("The owner socket runs server-scope faults only.");

    public Task<IAsyncDisposable> ShortenTimeoutAsync(TimeoutKind kind, TimeSpan timeout, CancellationToken ct) => throw new NotSupportedException("The owner socket runs server-scope faults only.");

    public Task<FaultOutcome> OnServerAsync(ServerFaultKind kind, TimeSpan hold, CancellationToken ct) => kind.InjectHereAsync(this, server, ct, record: false);

    public Task<FaultOutcome> InjectAsync(FaultKind kind, FaultArgs args, CancellationToken ct) => kind.InjectAsync(this, args, ct);
}
