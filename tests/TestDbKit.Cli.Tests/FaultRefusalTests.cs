namespace TestDbKit.Cli.Tests;

/// <summary>What <c>testdbkit fault</c> and <c>chaos</c> refuse, and how: exit 64 for malformed input (a bad command
/// line, a malformed connection string or URL, never printing its password), exit 3 for what the kit will not touch
/// or cannot do here, with the reason and where the fault is available instead.</summary>
public sealed class FaultRefusalTests
{
    public static TheoryData<string, string[]> Malformed => new()
    {
        { "a URL with a port that is no number", ["--connection", "postgresql://u:sekrit-77@127.0.0.1:notaport/tdk_x"] },
        { "a URL with no host", ["--connection", "mysql://u:sekrit-77@/tdk_x"] },
        { "a URL of no known engine", ["--connection", "oracle://u:sekrit-77@127.0.0.1:1521/x"] },
        { "a URL whose engine --engine contradicts", ["--engine", "mysql", "--connection", "postgresql://u:sekrit-77@127.0.0.1:5432/x"] },
        { "a connection string without --engine", ["--connection", "Host=127.0.0.1;Password=sekrit-77"] },
        { "a PostgreSQL connection string with a port that is no number", ["--engine", "postgres", "--connection", "Host=127.0.0.1;Port=abc;Password=sekrit-77"] },
        { "a MySQL connection string with an unknown keyword", ["--engine", "mysql", "--connection", "Server=127.0.0.1;Frobnicate=1;Password=sekrit-77"] },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public async Task A_malformed_connection_exits_64_on_fault_and_chaos_without_printing_the_password(string what, string[] connection)
    {
        foreach (var command in new[] { new[] { "fault", "kill" }, ["chaos", "--duration", "1s"] })
        {
            var (code, stdout, stderr) = await CliProcess.RunAsync([.. command, .. connection]);
            Assert.True(code == 64, $"{command[0]} with {what}: exit {code}\n{stderr}");
            Assert.StartsWith("testdbkit: --connection", stderr, StringComparison.Ordinal);
            Assert.DoesNotContain("sekrit-77", stdout + stderr, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("fault", "lock", "--database", "tdk_x")] // no --table
    [InlineData("fault", "kill-session")] // no --session
    [InlineData("fault", "kill", "--value", "1s")] // --value on no timeout fault
    [InlineData("fault", "kill", "--hold", "1s")] // --hold on an instant fault
    [InlineData("fault", "meteor")]
    [InlineData("chaos", "--faults", "lock")] // needs arguments of its own: says to use fault
    public async Task A_bad_fault_command_line_exits_64_with_a_clear_message(params string[] args)
    {
        var (code, _, stderr) = await CliProcess.RunAsync([.. args, "--connection", "postgresql://u:p@127.0.0.1:1/x"]);
        Assert.True(code == 64, stderr);
        Assert.StartsWith("testdbkit: ", stderr, StringComparison.Ordinal);
        if (args.Contains("lock"))
        {
            Assert.Contains(args[0] == "chaos" ? "testdbkit fault lock" : "--table", stderr, StringComparison.Ordinal);
        }
    }

    public static TheoryData<string[]> NetworkKinds => new()
    {
        new[] { "network-reset" }, new[] { "network-latency" }, new[] { "network-stall" }, new[] { "network-refuse" },
        new[] { "network-cut", "--value", "100" }, new[] { "network-bandwidth", "--value", "1KB" }, new[] { "ambiguous-commit" },
    };

    [Theory]
    [MemberData(nameof(NetworkKinds))]
    public async Task Network_faults_on_a_server_no_serve_owns_are_refused_saying_to_start_serve_proxy(string[] fault)
    {
        var (code, _, stderr) = await CliProcess.RunAsync(["fault", .. fault, "--connection", "postgresql://u:p@127.0.0.1:1/x"]);
        Assert.True(code == 3, stderr);
        Assert.Contains("not a server the kit owns", stderr, StringComparison.Ordinal);
        Assert.Contains("'testdbkit serve --proxy'", stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("fault", "network-cut")] // no --value
    [InlineData("fault", "network-bandwidth", "--value", "0")]
    [InlineData("fault", "network-bandwidth", "--value", "fast")]
    [InlineData("fault", "network-latency", "--value", "slow")]
    [InlineData("fault", "network-stall", "--value", "1s")] // takes no value
    [InlineData("fault", "network-latency", "--database", "tdk_x")] // network faults are not per database
    [InlineData("chaos", "--faults", "network-cut")] // needs a value of its own: says to use fault
    public async Task A_bad_network_fault_command_line_exits_64(params string[] args)
    {
        var (code, _, stderr) = await CliProcess.RunAsync([.. args, "--connection", "postgresql://u:p@127.0.0.1:1/x"]);
        Assert.True(code == 64, $"exit {code}: {stderr}");
        Assert.StartsWith("testdbkit", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_database_outside_the_kits_prefix_is_refused()
    {
        var (code, _, stderr) = await CliProcess.RunAsync("fault", "kill", "--connection", "postgresql://u:p@127.0.0.1:1/x", "--database", "orders");
        Assert.Equal(3, code);
        Assert.Contains("not one of the kit's databases", stderr, StringComparison.Ordinal);
        Assert.Contains("tdk_orders", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_server_no_testdbkit_serve_owns_is_refused_by_fault()
    {
        await using var server = await DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { Provider = DbServerProvider.Local });
        var (code, _, stderr) = await CliProcess.RunAsync("fault", "kill", "--engine", "postgres", "--connection", server.AdminConnectionString);
        Assert.Equal(3, code);
        Assert.Contains("not a server the kit owns", stderr, StringComparison.Ordinal);
    }
}
