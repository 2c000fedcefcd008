using System.Data.Common;
using System.Diagnostics;
using System.Globalization;

namespace TestDbKit.Tests.Diagnostics;

/// <summary>
/// The driver behaviour the advisor's judgements rest on, seen on real servers: the setting it calls safe keeps a
/// pooled connection the server dropped from being reused, and without it the same reuse fails.
/// </summary>
public sealed class ResilienceAdvisorDriverTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task MySqlConnector_with_ConnectionReset_replaces_a_pooled_session_the_server_dropped(bool reset)
    {
        await using var server = await DbServer.StartAsync(DbEngine.MySql, new DbServerOptions
        {
            Provider = DbServerProvider.Local,
            Settings = new Dictionary<string, string> { ["wait_timeout"] = "2" },
        });
        // Without the reset the driver does not ask the server before it hands a pooled session out, so the reuse
        // fails; now and then (seen under load) it still notices the closed socket and opens a new session, so that
        // case gets three rounds, each on a pool of its own, and must fail in one of them.
        Exception? lost = null;
        for (var round = 0; round < (reset ? 1 : 3) && lost is null; round++)
        {
            var cs = server.AdminConnectionString + $";Pooling=true;ConnectionReset={reset};ConnectionIdleTimeout=0;Application Name=advisor-{Guid.NewGuid():N}";
            var first = await SessionIdAsync(server, cs, "SELECT CONNECTION_ID()");
            await GoneAsync(server, $"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {first}"); // premise: the server dropped it

            await using var connection = server.CreateConnection(cs);
            await connection.OpenAsync(); // from the pool
            if (reset)
            {
                var second = Convert.ToInt64(await connection.ScalarAsync("SELECT CONNECTION_ID()"), CultureInfo.InvariantCulture);
                Assert.NotEqual(first, second);
                Assert.Contains(await ResilienceAdvisor.AdviseAsync(DbEngine.MySql, cs), a => a.Kind == "idle-timeout" && a.Level == AdviceLevel.Info);
            }
            else
            {
                try
                {
                    await connection.ScalarAsync("SELECT 1");
                }
                catch (Exception e)
                {
                    Assert.True(DbErrors.IsConnectionLost(e), e.ToString());
                    lost = e;
                }

                Assert.Contains(await ResilienceAdvisor.AdviseAsync(DbEngine.MySql, cs), a => a.Kind == "idle-timeout" && a.Level == AdviceLevel.Problem);
            }
        }

        Assert.True(reset || lost is not null, "without ConnectionReset the reuse of a dropped pooled session never failed in three rounds");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Npgsql_with_a_Connection_Lifetime_below_the_timeout_does_not_reuse_a_connection_the_server_dropped(bool lifetime)
    {
        await using var database = await ScratchDatabase.CreateAsync(DbEngine.PostgreSql);
        await using (var admin = await database.Server.OpenAdminConnectionAsync())
        {
            await admin.ExecuteAsync($"ALTER DATABASE {database.Name} SET idle_session_timeout = 1500");
        }

        // Without a lifetime the pool hands the dropped session out again and the reuse fails. A clear of every pool
        // by a test running alongside (a [ResetConnection], a server restart) would empty the pool first, so that case
        // gets three rounds, each on a pool of its own, and must fail in one of them.
        Exception? lost = null;
        for (var round = 0; round < (lifetime ? 1 : 3) && lost is null; round++)
        {
            var cs = database.ConnectionString + $";Pooling=true;Connection Lifetime={(lifetime ? 1 : 0)};Application Name=advisor-{Guid.NewGuid():N}";
            var first = await SessionIdAsync(database.Server, cs, "SELECT pg_backend_pid()");
            await GoneAsync(database.Server, $"SELECT COUNT(*) FROM pg_stat_activity WHERE pid = {first}"); // premise: the server ended it

            await using var connection = database.Server.CreateConnection(cs);
            if (lifetime)
            {
                await connection.OpenAsync();
                var second = Convert.ToInt64(await connection.ScalarAsync("SELECT pg_backend_pid()"), CultureInfo.InvariantCulture);
                Assert.NotEqual(first, second);
                Assert.Contains(await ResilienceAdvisor.AdviseAsync(DbEngine.PostgreSql, cs), a => a.Kind == "idle-timeout" && a.Level == AdviceLevel.Info);
            }
            else
            {
                try
                {
                    await connection.OpenAsync();
                    await connection.ScalarAsync("SELECT 1");
                }
                catch (Exception e)
                {
                    Assert.True(DbErrors.IsConnectionLost(e), e.ToString());
                    lost = e;
                }

                Assert.Contains(await ResilienceAdvisor.AdviseAsync(DbEngine.PostgreSql, cs), a => a.Kind == "idle-timeout" && a.Level == AdviceLevel.Problem);
            }
        }

        Assert.True(lifetime || lost is not null, "without a Connection Lifetime the reuse of a dropped pooled session never failed in three rounds");
    }

    /// <summary>Opens a pooled connection, reads its server session id and gives it back to the pool.</summary>
    private static async Task<long> SessionIdAsync(DbServer server, string cs, string sql)
    {
        await using var connection = server.CreateConnection(cs);
        await connection.OpenAsync();
        return Convert.ToInt64(await connection.ScalarAsync(sql), CultureInfo.InvariantCulture);
    }

    /// <summary>Polls, on fresh administrator sessions, until <paramref name="countSql"/> counts nothing.</summary>
    private static async Task GoneAsync(DbServer server, string countSql)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            await using (DbConnection admin = server.CreateConnection(server.Dialect.ForProbe(server.AdminConnectionString, TimeSpan.FromSeconds(10))))
            {
                await admin.OpenAsync();
                if (Convert.ToInt64(await admin.ScalarAsync(countSql), CultureInfo.InvariantCulture) == 0)
                {
                    return;
                }
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "The server did not end the idle session within 30 s.");
            await Task.Delay(100);
        }
    }
}
