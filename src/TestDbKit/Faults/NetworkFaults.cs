using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using TestDbKit.Engines;
using TestDbKit.Faults;

namespace TestDbKit;

/// <summary>
/// A TCP proxy on 127.0.0.1 between a test's connections and its database server, in the test process
/// (Toxiproxy's model without a separate server). Connections opened with <see cref="ConnectionString"/>
/// go through it; the methods below degrade or cut that traffic, each until the handle it returns is
/// disposed, and all of them when the test's lease ends. Connections that do not use the proxy are never
/// touched.
/// </summary>
public sealed class NetworkFaults : IAsyncDisposable
{
    private const int ChunkSize = 16 * 1024;

    private readonly TcpListener _listener;
    private readonly IPEndPoint _upstream;
    private readonly ConcurrentDictionary<Link, byte> _links = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private readonly object _gate = new();
    private readonly List<Toxic> _toxics = [];
    private readonly string _target;
    private bool _refuseNew;
    private int _disposed;

    internal NetworkFaults(TestDatabase database, IPEndPoint upstream)
        : this(database.Server.Dialect, database.ConnectionString, upstream, database.Name)
    {
    }

    /// <summary>A proxy in front of any server endpoint, with no test database behind it (<c>testdbkit serve
    /// --proxy</c>): every connection through it is touched, whatever its database or user.</summary>
    /// <param name="dialect">The server's engine: how <see cref="ConnectionString"/> is rewritten.</param>
    /// <param name="connectionString">What <see cref="ConnectionString"/> routes through the proxy.</param>
    /// <param name="upstream">The server's endpoint.</param>
    /// <param name="target">Where the run's fault log says the faults landed.</param>
    internal NetworkFaults(EngineDialect dialect, string connectionString, IPEndPoint upstream, string target)
    {
        ArgumentNullException.ThrowIfNull(dialect);
        _upstream = upstream;
        _target = target;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        ConnectionString = dialect.WithEndpoint(connectionString, "127.0.0.1", Port);
        _acceptLoop = AcceptLoopAsync();
    }

    /// <summary>The test database's connection string, routed through the proxy. Contains a password.</summary>
    public string ConnectionString { get; }

    /// <summary>The proxy's port on 127.0.0.1.</summary>
    internal int Port { get; }

    /// <summary>The endpoint of a server named <paramref name="host"/>: the kit's servers listen on 127.0.0.1; an
    /// external one may be named by host.</summary>
    internal static IPEndPoint Resolve(string host, int port)
    {
        var address = host is "localhost" ? IPAddress.Loopback
            : IPAddress.TryParse(host.Trim('[', ']'), out var ip) ? ip
            : Dns.GetHostAddresses(host).First();
        return new IPEndPoint(address, port);
    }

    /// <summary>
    /// Injects a network kind of the catalogue with its value, as <c>testdbkit fault</c> asks the owner socket:
    /// the latency in milliseconds (default the catalogue's 50 ± 25 ms), the bytes a second of a bandwidth limit,
    /// the bytes after which a cut resets each connection; no value for the others. The outcome's handle undoes a
    /// lasting one; a reset counts the connections it reset.
    /// </summary>
    internal async Task<FaultOutcome> InjectAsync(NetworkFaultKind kind, long? value, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(kind);
        switch (kind)
        {
            case NetworkLatency:
                return new FaultOutcome(value is { } ms
                    ? await AddLatencyAsync(TimeSpan.FromMilliseconds(ms), ct: ct).ConfigureAwait(false)
                    : await AddLatencyAsync(NetworkLatency.DefaultLatency, NetworkLatency.DefaultJitter, ct: ct).ConfigureAwait(false));
            case NetworkBandwidth:
                return new FaultOutcome(await LimitBandwidthAsync(value ?? throw MissingValue(kind, "bytes a second"), ct: ct).ConfigureAwait(false));
            case NetworkCut:
                return new FaultOutcome(await CloseAfterBytesAsync(value ?? throw MissingValue(kind, "a byte count"), ct: ct).ConfigureAwait(false));
            case NetworkStall:
                return new FaultOutcome(await StallAsync(ct: ct).ConfigureAwait(false));
            case NetworkRefuse:
                return new FaultOutcome(await RefuseNewConnectionsAsync(ct).ConfigureAwait(false));
            case AmbiguousCommit:
                return new FaultOutcome(await AmbiguousCommitAsync(ct).ConfigureAwait(false));
            case NetworkReset:
                var reset = await ResetConnectionsAsync(ct).ConfigureAwait(false);
                return new FaultOutcome(null, reset, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{reset} connection(s) reset"));
            default:
                throw new NotSupportedException($"The proxy does not know the network fault '{kind.Name}'.");
        }

        static ArgumentException MissingValue(FaultKind kind, string what) => new($"The {kind.Name} fault needs a value: {what}.", nameof(value));
    }

    /// <summary>Delays every chunk of traffic by <paramref name="latency"/>, plus or minus up to
    /// <paramref name="jitter"/>, keeping its order.</summary>
    public Task<IAsyncDisposable> AddLatencyAsync(TimeSpan latency, TimeSpan jitter = default, NetworkDirection direction = NetworkDirection.Both, CancellationToken ct = default)
    {
        if (latency < TimeSpan.Zero || jitter < TimeSpan.Zero || jitter > latency)
        {
            throw new ArgumentOutOfRangeException(nameof(latency), "Latency must be positive and jitter between zero and the latency.");
        }

        return AddAsync(new Toxic(direction) { Latency = latency, Jitter = jitter }, FaultCatalogue.Get<NetworkLatency>(), $"{latency.TotalMilliseconds:0}±{jitter.TotalMilliseconds:0} ms {direction}");
    }

    /// <summary>Lets at most <paramref name="bytesPerSecond"/> through per connection and direction.</summary>
    public Task<IAsyncDisposable> LimitBandwidthAsync(long bytesPerSecond, NetworkDirection direction = NetworkDirection.Both, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytesPerSecond, 1);
        return AddAsync(new Toxic(direction) { BytesPerSecond = bytesPerSecond }, FaultCatalogue.Get<NetworkBandwidth>(), $"{bytesPerSecond} B/s {direction}");
    }

    /// <summary>Holds all traffic (a black hole: connections stay open, nothing arrives) until disposed;
    /// what was held is then delivered.</summary>
    public Task<IAsyncDisposable> StallAsync(NetworkDirection direction = NetworkDirection.Both, CancellationToken ct = default) =>
        AddAsync(new Toxic(direction) { Stall = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) }, FaultCatalogue.Get<NetworkStall>(), $"{direction}");

    /// <summary>Closes every open connection through the proxy with a TCP reset, as a failed network
    /// device or a firewall would. Returns how many it reset.</summary>
    public Task<int> ResetConnectionsAsync(CancellationToken ct = default)
    {
        FaultCatalogue.Get<NetworkReset>().Record(_target);
        var links = _links.Keys.ToList();
        foreach (var link in links)
        {
            link.Reset();
        }

        return Task.FromResult(links.Count);
    }

    /// <summary>Resets every new connection at once (the server looks unreachable) until disposed.</summary>
    public Task<IAsyncDisposable> RefuseNewConnectionsAsync(CancellationToken ct = default)
    {
        FaultCatalogue.Get<NetworkRefuse>().Record(_target);
        lock (_gate)
        {
            _refuseNew = true;
        }

        return Task.FromResult<IAsyncDisposable>(new Handle(() =>
        {
            lock (_gate)
            {
                _refuseNew = false;
            }
        }));
    }

    /// <summary>Resets each connection once <paramref name="bytes"/> have passed in the direction, as a
    /// connection cut in the middle of a reply would.</summary>
    public Task<IAsyncDisposable> CloseAfterBytesAsync(long bytes, NetworkDirection direction = NetworkDirection.ToClient, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, 0);
        return AddAsync(new Toxic(direction) { CloseAfterBytes = bytes }, FaultCatalogue.Get<NetworkCut>(), $"after {bytes} bytes {direction}");
    }

    /// <summary>
    /// The ambiguous commit: the next COMMIT reaches the server, which commits, and the connection dies
    /// before the reply reaches the client. The client cannot know whether its write was applied; a test
    /// proves that retrying it does not apply it twice. Armed for one COMMIT on any proxied connection.
    /// </summary>
    public Task<IAsyncDisposable> AmbiguousCommitAsync(CancellationToken ct = default) =>
        AddAsync(new Toxic(NetworkDirection.ToServer) { CutAfterCommit = true }, FaultCatalogue.Get<AmbiguousCommit>(), null);

    /// <summary>Stops the proxy and closes every connection through it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        lock (_gate)
        {
            foreach (var toxic in _toxics)
            {
                toxic.Stall?.TrySetResult();
            }

            _toxics.Clear();
        }

        foreach (var link in _links.Keys)
        {
            link.Reset();
        }

        try
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Stopped.
        }

        _stop.Dispose();
    }

    private Task<IAsyncDisposable> AddAsync(Toxic toxic, NetworkFaultKind kind, string? detail)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        kind.Record(_target, detail);
        lock (_gate)
        {
            _toxics.Add(toxic);
        }

        return Task.FromResult<IAsyncDisposable>(new Handle(() =>
        {
            lock (_gate)
            {
                _toxics.Remove(toxic);
            }

            toxic.Stall?.TrySetResult();
        }));
    }

    private Toxic[] ToxicsFor(NetworkDirection direction)
    {
        lock (_gate)
        {
            return [.. _toxics.Where(t => t.Direction == NetworkDirection.Both || t.Direction == direction)];
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false);
            bool refuse;
            lock (_gate)
            {
                refuse = _refuseNew;
            }

            if (refuse)
            {
                client.Client.LingerState = new LingerOption(true, 0); // RST, not FIN
                client.Dispose();
                continue;
            }

            _ = Task.Run(() => RunLinkAsync(client));
        }
    }

    private async Task RunLinkAsync(TcpClient client)
    {
        var server = new TcpClient();
        try
        {
            await server.ConnectAsync(_upstream, _stop.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            client.Client.LingerState = new LingerOption(true, 0);
            client.Dispose();
            server.Dispose();
            return;
        }

        var link = new Link(client, server);
        _links[link] = 0;
        try
        {
            await Task.WhenAll(
                PumpAsync(link, client.GetStream(), server.GetStream(), NetworkDirection.ToServer),
                PumpAsync(link, server.GetStream(), client.GetStream(), NetworkDirection.ToClient)).ConfigureAwait(false);
        }
        finally
        {
            _links.TryRemove(link, out _);
            link.Dispose();
        }
    }

    private async Task PumpAsync(Link link, NetworkStream from, NetworkStream to, NetworkDirection direction)
    {
        var buffer = new byte[ChunkSize];
        long passed = 0;
        try
        {
            while (true)
            {
                var read = await from.ReadAsync(buffer, link.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    link.Reset(); // one side closed: close the other (the driver sees what it would on a real cut)
                    return;
                }

                var chunk = buffer.AsMemory(0, read);
                foreach (var toxic in ToxicsFor(direction))
                {
                    if (toxic.Stall is { } stall)
                    {
                        await stall.Task.WaitAsync(link.Token).ConfigureAwait(false);
                    }

                    if (toxic.Latency > TimeSpan.Zero)
                    {
                        var jitter = toxic.Jitter.Ticks == 0 ? 0 : Random.Shared.NextInt64(-toxic.Jitter.Ticks, toxic.Jitter.Ticks);
                        await Task.Delay(TimeSpan.FromTicks(toxic.Latency.Ticks + jitter), link.Token).ConfigureAwait(false);
                    }

                    if (toxic.BytesPerSecond > 0)
                    {
                        await Task.Delay(TimeSpan.FromSeconds((double)read / toxic.BytesPerSecond), link.Token).ConfigureAwait(false);
                    }

                    if (toxic.CloseAfterBytes >= 0 && passed + read > toxic.CloseAfterBytes)
                    {
                        var allowed = (int)Math.Max(0, toxic.CloseAfterBytes - passed);
                        await to.WriteAsync(chunk[..allowed], link.Token).ConfigureAwait(false);
                        link.Reset();
                        return;
                    }

                    if (toxic.CutAfterCommit && ContainsCommit(chunk.Span) && toxic.TryFire())
                    {
                        // The COMMIT goes through; the reply never comes back.
                        link.DropReplies = true;
                    }
                }

                if (direction == NetworkDirection.ToClient && link.DropReplies)
                {
                    link.Reset();
                    return;
                }

                await to.WriteAsync(chunk, link.Token).ConfigureAwait(false);
                passed += read;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            link.Reset();
        }
    }

    /// <summary>Whether a request carries the word COMMIT (not "READ COMMITTED"), in any case.</summary>
    private static bool ContainsCommit(ReadOnlySpan<byte> data)
    {
        ReadOnlySpan<byte> commit = "COMMIT"u8;
        for (var i = 0; i + commit.Length <= data.Length; i++)
        {
            var match = true;
            for (var j = 0; j < commit.Length && match; j++)
            {
                match = (data[i + j] & 0xDF) == commit[j]; // ASCII case-insensitive
            }

            var wordStart = i == 0 || !IsLetter(data[i - 1]);
            var wordEnd = i + commit.Length == data.Length || !IsLetter(data[i + commit.Length]);
            if (match && wordStart && wordEnd)
            {
                return true;
            }
        }

        return false;

        static bool IsLetter(byte b) => (b | 0x20) is >= (byte)'a' and <= (byte)'z' || b == '_';
    }

    /// <summary>One fault on the traffic.</summary>
    private sealed class Toxic(NetworkDirection direction)
    {
        private int _fired;

        public NetworkDirection Direction { get; } = direction;

        public TimeSpan Latency { get; init; }

        public TimeSpan Jitter { get; init; }

        public long BytesPerSecond { get; init; }

        public long CloseAfterBytes { get; init; } = -1;

        public bool CutAfterCommit { get; init; }

        public TaskCompletionSource? Stall { get; init; }

        public bool TryFire() => Interlocked.Exchange(ref _fired, 1) == 0;
    }

    /// <summary>A client connection and its connection to the server.</summary>
    private sealed class Link(TcpClient client, TcpClient server) : IDisposable
    {
        private readonly CancellationTokenSource _cts = new();
        private int _reset;

        public CancellationToken Token => _cts.Token;

        public volatile bool DropReplies;

        public void Reset()
        {
            if (Interlocked.Exchange(ref _reset, 1) != 0)
            {
                return;
            }

            foreach (var side in new[] { client, server })
            {
                try
                {
                    // A TcpClient that a pump already disposed has no socket left to cut.
                    if (side.Client is not { } socket)
                    {
                        continue;
                    }

                    socket.LingerState = new LingerOption(true, 0); // RST, as a cut connection
                    socket.Close();
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    // Already gone.
                }
            }

            _cts.Cancel();
        }

        // The token source is not disposed: Reset's Cancel can run the pumps' continuations, and so this
        // Dispose, inline; disposing it there would break the Cancel still on the stack. It holds no timer.
        public void Dispose()
        {
            Reset();
            client.Dispose();
            server.Dispose();
        }
    }

    private sealed class Handle(Action undo) : IAsyncDisposable
    {
        private int _done;

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0)
            {
                undo();
            }

            return ValueTask.CompletedTask;
        }
    }
}
