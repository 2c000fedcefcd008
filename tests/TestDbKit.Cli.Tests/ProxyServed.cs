using System.Data.Common;
using System.Diagnostics;
using System.Text.Json;
using TestDbKit.Tests.Common;

namespace TestDbKit.Cli.Tests;

/// <summary>One <c>testdbkit serve --database n --proxy</c> per engine for a test class, started when first asked for:
/// the network faults of <c>testdbkit fault</c> act on its proxy.</summary>
public sealed class ProxyServed : IAsyncLifetime
{
    private readonly Dictionary<DbEngine, Task<ServeProcess>> _servers = [];
    private readonly Lock _one = new();

    internal Task<ServeProcess> GetAsync(DbEngine engine)
    {
        lock (_one)
        {
            if (!_servers.TryGetValue(engine, out var server))
            {
                _servers[engine] = server = ServeProcess.StartAsync(Served.Key(engine), "--database", "n", "--proxy");
            }

            return server;
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var server in _servers.Values)
        {
            await (await server).DisposeAsync();
        }
    }
}

/// <summary>What the network fault tests read from a <c>serve --proxy</c> and do through its proxy.</summary>
internal static class Proxied
{
    /// <summary>serve's <c>proxy</c> object.</summary>
    public static JsonElement Proxy(this ServeProcess serve) => serve.Json.GetProperty("proxy");

    /// <summary>The test sessions' connection string through the proxy.</summary>
    public static string ProxyConnectionString(this ServeProcess serve) => serve.Proxy().GetProperty("connectionString").GetString()!;

    /// <summary>A new, unpooled session through the proxy.</summary>
    public static Task<DbConnection> OpenThroughProxyAsync(this ServeProcess serve, DbEngine engine, int timeoutSeconds = 5) =>
        Sessions.OpenAsync(engine, serve.ProxyConnectionString(), timeoutSeconds);

    /// <summary>A new, unpooled session straight to the server (not through the proxy).</summary>
    public static Task<DbConnection> OpenDirectAsync(this ServeProcess serve, DbEngine engine) =>
        Sessions.OpenAsync(engine, serve.TestConnectionString);

    /// <summary>The shortest of three runs of <paramref name="sql"/> on <paramref name="connection"/>: one slow run on
    /// a loaded machine says nothing, three do.</summary>
    public static async Task<TimeSpan> FastestOfThreeAsync(DbConnection connection, string sql)
    {
        var fastest = TimeSpan.MaxValue;
        for (var i = 0; i < 3; i++)
        {
            var clock = Stopwatch.StartNew();
            await connection.ScalarAsync(sql);
            fastest = clock.Elapsed < fastest ? clock.Elapsed : fastest;
        }

        return fastest;
    }

    /// <summary>Starts <c>testdbkit fault KIND --connection ADMIN --json ...</c> and reads its <c>started</c> line: the
    /// fault is in effect when this returns.</summary>
    public static async Task<FaultProcess> StartFaultAsync(ServeProcess serve, string kind, params string[] extra)
    {
        var fault = FaultProcess.Start(["fault", kind, "--connection", serve.AdminUrl, "--json", .. extra]);
        try
        {
            var started = await fault.NextAsync();
            Assert.True(started.GetProperty("event").GetString() == "started", $"{kind}: {started}");
            Assert.Equal(kind, started.GetProperty("fault").GetString());
            Assert.StartsWith($"proxy 127.0.0.1:{serve.Proxy().GetProperty("port").GetInt32()} ", started.GetProperty("target").GetString(), StringComparison.Ordinal);
            fault.Started = started;
            return fault;
        }
        catch
        {
            await fault.DisposeAsync();
            throw;
        }
    }
}
