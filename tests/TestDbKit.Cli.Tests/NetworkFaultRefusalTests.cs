namespace TestDbKit.Cli.Tests;

/// <summary>The network faults on a server that <c>testdbkit serve</c> owns but runs without <c>--proxy</c>: refused
/// with exit 3 (not possible here), saying to start <c>serve --proxy</c>; and serve without <c>--proxy</c> prints no
/// proxy.</summary>
public sealed class NetworkFaultRefusalTests(Served served) : IClassFixture<Served>
{
    [Fact]
    public async Task Fault_and_chaos_network_kinds_without_serve_proxy_exit_3_saying_to_start_it()
    {
        var serve = await served.GetAsync(DbEngine.PostgreSql);
        Assert.False(serve.Json.TryGetProperty("proxy", out _), "serve without --proxy printed a proxy");

        var (code, stdout, stderr) = await CliProcess.RunAsync("fault", "network-latency", "--connection", serve.AdminUrl, "--value", "100ms", "--json");
        Assert.True(code == 3, $"exit {code}: {stderr}");
        Assert.Contains($"(pid {serve.Pid}) runs no proxy", stderr, StringComparison.Ordinal);
        Assert.Contains("'testdbkit serve --proxy'", stderr, StringComparison.Ordinal);
        Assert.Equal("", stdout); // nothing started

        (code, _, stderr) = await CliProcess.RunAsync("chaos", "--connection", serve.AdminUrl, "--faults", "kill,network-stall", "--duration", "1s");
        Assert.True(code == 3, $"exit {code}: {stderr}");
        Assert.Contains("'testdbkit serve --proxy'", stderr, StringComparison.Ordinal);
    }
}
