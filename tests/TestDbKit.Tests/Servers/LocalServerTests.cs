using System.Net;
using System.Net.Sockets;
using TestDbKit.Servers;

namespace TestDbKit.Tests.Servers;

public sealed class LocalServerTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Starts_a_real_server_on_loopback_and_dispose_removes_process_and_data(DbEngine engine)
    {
        var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local });
        var pid = server.Instance.ProcessId!.Value;
        var folder = server.Instance.Folder!;
        try
        {
            Assert.Equal(DbServerProvider.Local, server.Provider);
            Assert.True(server.IsOwned);
            Assert.Contains("127.0.0.1", server.AdminConnectionString, StringComparison.Ordinal);
            Assert.Equal(1, Convert.ToInt32(await server.ScalarAsync("SELECT 1")));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(folder));
            Assert.True(TestSupport.ProcessExists(pid));
            Assert.DoesNotContain(server.Dialect.PasswordOf(server.AdminConnectionString)!, server.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            await server.DisposeAsync();
        }

        Assert.False(TestSupport.ProcessExists(pid), "the server process outlived DisposeAsync");
        Assert.False(Directory.Exists(folder), "the data directory outlived DisposeAsync");
    }

    [Fact]
    public async Task Runs_postgres_fast_and_unsafe_for_tests()
    {
        await using var server = await DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { Provider = DbServerProvider.Local });
        Assert.Equal("off", await server.ScalarAsync("SHOW fsync"));
        Assert.Equal("127.0.0.1", await server.ScalarAsync("SHOW listen_addresses"));
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql, "idle_session_timeout", "7s", "SHOW idle_session_timeout", "7s")]
    [InlineData(DbEngine.MySql, "wait_timeout", "7", "SELECT @@GLOBAL.wait_timeout", "7")]
    public async Task Applies_settings_at_start(DbEngine engine, string name, string value, string query, string expected)
    {
        await using var server = await DbServer.StartAsync(engine, new DbServerOptions
        {
            Provider = DbServerProvider.Local,
            Settings = new Dictionary<string, string> { [name] = value },
        });
        Assert.Equal(expected, Convert.ToString(await server.ScalarAsync(query), System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql, "unrecognized configuration parameter")]
    [InlineData(DbEngine.MySql, "unknown variable")]
    public async Task A_server_that_exits_during_start_reports_the_tail_of_its_log_and_leaves_nothing(DbEngine engine, string logLine)
    {
        var root = Directory.CreateTempSubdirectory("tdk-exit-").FullName;
        try
        {
            var e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(engine, new DbServerOptions
            {
                Provider = DbServerProvider.Local,
                DataRoot = root,
                Settings = new Dictionary<string, string> { ["no_such_setting_xyz"] = "1" },
            }));
            Assert.Equal(DbServerProvider.Local, e.Provider);
            Assert.Contains("exited with code", e.Message, StringComparison.Ordinal);
            Assert.Contains(logLine, e.Message, StringComparison.OrdinalIgnoreCase);
            Assert.Empty(Directory.GetDirectories(root));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_port_taken_between_choosing_and_binding_is_retried_on_another(DbEngine engine)
    {
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var taken = ((IPEndPoint)squatter.LocalEndpoint).Port;
        var offered = 0;
        int NextPort() => offered++ == 0 ? taken : Ports.Free();

        await using var instance = await ServerFactory.CreateAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local }, default, NextPort);
        Assert.True(offered >= 2, "the taken port was not tried first");
        Assert.DoesNotContain($"Port={taken};", instance.AdminConnectionString, StringComparison.Ordinal);
        await using var connection = EngineOf(engine).CreateConnection(instance.AdminConnectionString);
        await connection.OpenAsync();
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task An_explicit_port_that_is_taken_is_an_error_naming_it(DbEngine engine)
    {
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var taken = ((IPEndPoint)squatter.LocalEndpoint).Port;
        var e = await Assert.ThrowsAsync<DbServerException>(() =>
            DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local, Port = taken }));
        Assert.Contains($"127.0.0.1:{taken}", e.Message, StringComparison.Ordinal);
        Assert.Contains("in use", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(DbEngine.PostgreSql, "apt-get install -y postgresql")]
    [InlineData(DbEngine.MySql, "apt-get install -y mariadb-server")]
    public async Task Missing_binaries_say_where_the_kit_looked_and_how_to_install_them(DbEngine engine, string fix)
    {
        var empty = Directory.CreateTempSubdirectory("tdk-nobin-").FullName;
        try
        {
            var e = await Assert.ThrowsAsync<DbServerException>(() =>
                DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local, BinDirectory = empty }));
            Assert.Contains(empty, e.Message, StringComparison.Ordinal);
            Assert.Contains(fix, e.Message, StringComparison.Ordinal);
            Assert.Contains("DbServerOptions.BinDirectory", e.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(empty);
        }
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_cancelled_start_leaves_no_process_or_folder(DbEngine engine)
    {
        var root = Directory.CreateTempSubdirectory("tdk-cancel-").FullName;
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local, DataRoot = root }, cts.Token));
            Assert.Empty(Directory.GetDirectories(root));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static Engines.EngineDialect EngineOf(DbEngine engine) => Engines.EngineDialect.For(engine);
}
