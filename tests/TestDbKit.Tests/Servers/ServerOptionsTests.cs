using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace TestDbKit.Tests.Servers;

/// <summary>The promises of <see cref="DbServerOptions"/> that only show when something is slow or watched:
/// <see cref="DbServerOptions.StartTimeout"/> and <see cref="DbServerOptions.LoggerFactory"/>.</summary>
public sealed class ServerOptionsTests
{
    /// <summary>A server that starts but never lets anyone in: <c>pre_auth_delay</c> makes each new session wait a
    /// minute before it authenticates, so every probe of the kit times out. The start must give up after
    /// <see cref="DbServerOptions.StartTimeout"/> (plus at most one probe), far sooner than the 60 s default,
    /// and say what it tried and what to do.</summary>
    [Fact]
    public async Task A_server_that_never_accepts_a_connection_fails_after_StartTimeout_with_advice()
    {
        var timeout = TimeSpan.FromSeconds(8);
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<DbServerException>(() => DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions
        {
            Provider = DbServerProvider.Local,
            StartTimeout = timeout,
            Settings = new Dictionary<string, string> { ["pre_auth_delay"] = "60" },
        }));
        clock.Stop();

        Assert.Equal(DbServerProvider.Local, e.Provider);
        Assert.Equal(DbEngine.PostgreSql, e.Engine);
        // What was tried (the address), what went wrong (within the timeout), what to do (the option).
        Assert.Matches(@"server on 127\.0\.0\.1:\d+ accepted no connection within 8 s", e.Message);
        Assert.Contains("DbServerOptions.StartTimeout", e.Message, StringComparison.Ordinal);
        // At least the timeout was waited; the default (60 s) was not. Generous: one 5 s probe may overrun it,
        // and initdb and the stop come on top, on a loaded machine.
        Assert.True(clock.Elapsed >= timeout, $"gave up after {clock.Elapsed.TotalSeconds:0.0} s, before the {timeout.TotalSeconds} s timeout");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(45), $"gave up only after {clock.Elapsed.TotalSeconds:0.0} s: StartTimeout was not applied");
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task The_kits_messages_reach_the_given_logger_factory(DbEngine engine)
    {
        using var log = new LogCollector();
        string password;
        await using (var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.Local, LoggerFactory = log }))
        {
            password = (string)new System.Data.Common.DbConnectionStringBuilder { ConnectionString = server.AdminConnectionString }["Password"];
            Assert.Contains(log.Entries, e => e.Category.StartsWith("TestDbKit", StringComparison.Ordinal) && e.Level == LogLevel.Information
                && e.Message.StartsWith("Started ", StringComparison.Ordinal) && e.Message.Contains(server.ToString(), StringComparison.Ordinal));
        }

        Assert.True(password.Length >= 8, "the server has no password to leak");
        Assert.DoesNotContain(log.Entries, e => e.Message.Contains(password, StringComparison.Ordinal));
    }
}
