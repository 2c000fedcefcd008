namespace TestDbKit.Tests.Diagnostics;

public sealed class ResilienceAdvisorTests
{
    [Theory]
    [InlineData(DbEngine.PostgreSql, "idle_session_timeout", "60s", "Connection Idle Lifetime", "Keepalive")]
    [InlineData(DbEngine.MySql, "wait_timeout", "60", "ConnectionIdleTimeout", "Keepalive")]
    public async Task A_pool_that_outlives_the_servers_idle_timeout_is_a_problem_and_the_fix_removes_it(
        DbEngine engine, string serverSetting, string value, string clientSetting, string keepalive)
    {
        await using var server = await DbServer.StartAsync(engine, new DbServerOptions
        {
            Provider = DbServerProvider.Local,
            Settings = new Dictionary<string, string> { [serverSetting] = value },
        });
        var password = server.Dialect.PasswordOf(server.AdminConnectionString)!;

        var advice = await ResilienceAdvisor.AdviseAsync(engine, server.AdminConnectionString);
        var problem = Assert.Single(advice, a => a.Level == AdviceLevel.Problem);
        Assert.Contains(clientSetting, problem.Setting, StringComparison.Ordinal);
        Assert.Contains("60 s", problem.Finding, StringComparison.Ordinal);
        Assert.Contains($"{clientSetting}=48", problem.Fix, StringComparison.Ordinal);
        Assert.Contains(advice, a => a.Level == AdviceLevel.Warning && a.Setting == keepalive);
        Assert.DoesNotContain(advice, a => a.ToString().Contains(password, StringComparison.Ordinal));

        var fixedCs = server.AdminConnectionString + $";{clientSetting}=48;{keepalive}=30";
        var after = await ResilienceAdvisor.AdviseAsync(engine, fixedCs);
        Assert.DoesNotContain(after, a => a.Level != AdviceLevel.Info);
    }
}
