using System.Runtime.Versioning;
using TestDbKit.Options;
using TestDbKit.Servers;
using TestDbKit.Servers.Reuse;

namespace TestDbKit.Tests.Reuse;

/// <summary>A reuse state folder of one test's own, and the kept servers it started: disposing stops them (server,
/// idle watcher, data folder) and deletes the folder, so no test leaves a kept server behind.</summary>
[UnsupportedOSPlatform("windows")]
internal sealed class KeptServers : IAsyncDisposable
{
    private readonly List<ServerInstance> _instances = [];

    public KeptServers()
    {
        Root = Path.Combine(Directory.CreateTempSubdirectory("tdk-reuse-").FullName, "state");
    }

    /// <summary>The state folder's root (made by the kit, 0700, inside a temp folder of this test).</summary>
    public string Root { get; }

    public LogCollector Logs { get; } = new();

    public DbServerOptions Options(TimeSpan? idle = null) => new()
    {
        Provider = DbServerProvider.Local,
        Reuse = true,
        ReuseFolder = Root,
        ReuseIdle = idle ?? TimeSpan.FromMinutes(5),
        LoggerFactory = Logs,
    };

    /// <summary>Starts the run-wide kind of server (the only kind that is kept) as a test run would.</summary>
    public async Task<ServerInstance> StartAsync(DbEngine engine, DbServerOptions? options = null)
    {
        var instance = await ServerFactory.CreateAsync(engine, options ?? Options(), CancellationToken.None, shared: true);
        _instances.Add(instance);
        return instance;
    }

    /// <summary>The state folder of the one server kept under <see cref="Root"/>.</summary>
    public string ServerFolder => Directory.GetDirectories(Root).Single();

    public KeptState? State => Directory.Exists(Root) && Directory.GetDirectories(Root).Length == 1 ? KeptState.Read(ServerFolder) : null;

    public async ValueTask DisposeAsync()
    {
        foreach (var instance in _instances)
        {
            await instance.DisposeAsync();
        }

        // The bench's stop: it tolerates a Local server beside this test sweeping the same data folder (its owner, the
        // watcher, is dead once the stop has killed it).
        await Benchmarks.ColdStart.StopKeptAsync(Root);
        Directory.Delete(Path.GetDirectoryName(Root)!, recursive: true);
    }
}

/// <summary>
/// For reuse tests in a CI run: reuse is off where <c>CI</c> is true (as the suite runs it), so each test sees
/// <c>CI</c> unset unless it sets it itself. Set in the constructor, a plain method, so it reaches the test's body.
/// </summary>
public abstract class OutsideCi : IDisposable
{
    private readonly IDisposable _unset = KitEnvironment.Override(new Dictionary<string, string?> { [KitEnvironment.Ci] = null });

    public void Dispose()
    {
        _unset.Dispose();
        GC.SuppressFinalize(this);
    }
}
