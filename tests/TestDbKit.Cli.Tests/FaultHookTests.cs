using System.Data.Common;
using System.Globalization;
using TestDbKit.Tests.Common;

namespace TestDbKit.Cli.Tests;

/// <summary>On MySQL the settings faults (the timeouts, read-only) work through the kit's per-database hook: on a
/// server without it (an External server, or one whose <c>init_connect</c> was cleared) <c>fault</c> and every such
/// fault of <c>chaos</c> refuse with the reason before anything is written, rather than write settings rows nothing
/// reads. The server is the test's own, so clearing its hook touches no other test.</summary>
public sealed class FaultHookTests
{
    [Fact]
    public async Task Every_settings_fault_of_fault_and_chaos_is_refused_with_the_reason_on_a_MySQL_server_without_the_hook()
    {
        await using var serve = await ServeProcess.StartAsync("mysql", "--database", "h");
        await using (var admin = await Sessions.OpenAsync(DbEngine.MySql, serve.ConnectionString))
        {
            Assert.Contains("CALL testdbkit.", await ScalarAsync(admin, "SELECT @@GLOBAL.init_connect"), StringComparison.Ordinal); // premise: the hook is there
            await ScalarAsync(admin, "SET GLOBAL init_connect = ''");
        }

        foreach (var kind in new[] { "idle", "idle-in-transaction", "statement-timeout", "read-only" })
        {
            var (code, _, stderr) = await CliProcess.RunAsync("fault", kind, "--connection", serve.AdminUrl, "--database", serve.Database!, "--hold", "1s");
            Assert.True(code == 3, $"fault {kind} exited {code}: {stderr}");
            Assert.Contains($"the {kind} fault cannot run", stderr, StringComparison.Ordinal);
            Assert.Contains("init_connect is empty", stderr, StringComparison.Ordinal);
        }

        var chaos = await CliProcess.RunAsync("chaos", "--connection", serve.AdminUrl, "--database", serve.Database!, "--faults", "idle,read-only", "--duration", "1s", "--seed", "1");
        Assert.True(chaos.Code == 3, $"chaos exited {chaos.Code}: {chaos.Stderr}");
        Assert.Contains("init_connect is empty", chaos.Stderr, StringComparison.Ordinal);

        await using (var admin = await Sessions.OpenAsync(DbEngine.MySql, serve.ConnectionString))
        {
            Assert.Equal("0", await ScalarAsync(admin, "SELECT COUNT(*) FROM testdbkit.session_settings")); // nothing written that nothing reads
        }
    }

    private static async Task<string> ScalarAsync(DbConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToString(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture) ?? "";
    }
}
