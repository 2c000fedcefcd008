using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace TestDbKit.Tests.Servers;

public sealed class ExternalServerTests
{
    private const string Secret = "s3cret-Pa55word";

    [Theory]
    [InlineData(DbEngine.PostgreSql, "Host=127.0.0.1;Port={0};Username=u;Password=" + Secret + ";Timeout=3")]
    [InlineData(DbEngine.MySql, "Server=127.0.0.1;Port={0};User ID=u;Password=" + Secret + ";Connection Timeout=3")]
    public async Task An_unreachable_server_is_named_by_host_and_port_within_the_connect_timeout(DbEngine engine, string template)
    {
        var port = ClosedPort();
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(engine, new DbServerOptions
        {
            Provider = DbServerProvider.External,
            ConnectionString = string.Format(System.Globalization.CultureInfo.InvariantCulture, template, port),
        }));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
        Assert.Equal(DbServerProvider.External, e.Provider);
        Assert.Contains($"127.0.0.1:{port}", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, e.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_refused_login_is_reported_without_the_password(DbEngine engine)
    {
        await using var real = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        var dialect = real.Dialect;
        var endpoint = dialect.Parse(real.AdminConnectionString);
        var wrong = dialect.BuildConnectionString(endpoint.Host, endpoint.Port, endpoint.User, Secret, null, "test");

        var e = await Assert.ThrowsAsync<DbServerException>(() =>
            DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.External, ConnectionString = wrong }));
        Assert.Contains($"{endpoint.Host}:{endpoint.Port}", e.Message, StringComparison.Ordinal);
        Assert.Contains("password", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(Secret, e.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_reachable_external_server_is_used_as_is_and_never_stopped(DbEngine engine)
    {
        await using var real = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        var external = await DbServer.StartAsync(engine, new DbServerOptions { ConnectionString = real.AdminConnectionString });
        Assert.Equal(DbServerProvider.External, external.Provider);
        Assert.False(external.IsOwned);
        await external.DisposeAsync();
        Assert.Equal(1, Convert.ToInt32(await real.ScalarAsync("SELECT 1")));
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql, "Host=127.0.0.1;Password=" + Secret + ";Bogus Keyword=1")]
    [InlineData(DbEngine.PostgreSql, "Host=127.0.0.1;Password=" + Secret + ";Port=notanumber")]
    [InlineData(DbEngine.MySql, "Server=127.0.0.1;Password=" + Secret + ";Bogus Keyword=1")]
    [InlineData(DbEngine.MySql, "Server=127.0.0.1;Password=" + Secret + ";Port=notanumber")]
    [InlineData(DbEngine.MySql, "Password=" + Secret)]
    public async Task A_malformed_connection_string_is_a_clear_error_without_the_password(DbEngine engine, string cs)
    {
        var e = await Assert.ThrowsAsync<DbServerException>(() =>
            DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.External, ConnectionString = cs }));
        Assert.Contains("DbServerOptions.ConnectionString", e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, e.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Settings_are_refused_for_an_external_server()
    {
        var e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions
        {
            Provider = DbServerProvider.External,
            ConnectionString = "Host=127.0.0.1;Port=1;Username=u;Password=p",
            Settings = new Dictionary<string, string> { ["work_mem"] = "8MB" },
        }));
        Assert.Contains("work_mem", e.Message, StringComparison.Ordinal);
        Assert.Contains("external", e.Message, StringComparison.Ordinal);
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port; // closed again when disposed
    }
}
