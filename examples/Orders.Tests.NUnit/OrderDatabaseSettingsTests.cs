using Orders.Tests;
using TestDbKit;

namespace Orders.Tests.NUnit;

/// <summary>
/// The application's connection settings pass the kit's resilience advice against a server that closes idle
/// sessions after a minute, where the drivers' defaults (Npgsql 300 s, MySqlConnector 180 s idle) do not.
/// A server of the fixture's own: MySQL's wait_timeout is global.
/// </summary>
[TestFixture(DbEngine.PostgreSql)]
[TestFixture(DbEngine.MySql)]
public sealed class OrderDatabaseSettingsTests(DbEngine engine) : OwnServer(engine)
{
    private static readonly TimeSpan ServerIdleTimeout = TimeSpan.FromSeconds(60);

    [Test]
    public async Task The_applications_settings_get_no_warning_against_a_short_server_idle_timeout()
    {
        await using var database = await LeaseAsync();
        await using var timeout = await database.Faults.SetIdleTimeoutAsync(ServerIdleTimeout);
        var advice = await ResilienceAdvisor.AdviseAsync(database.Engine, OrderWorkload.Settings(database).PooledConnectionString);
        Assert.That(advice.Where(a => a.Level >= AdviceLevel.Warning), Is.Empty);
    }

    [Test]
    public async Task Naive_settings_are_a_problem_against_the_same_server()
    {
        await using var database = await LeaseAsync();
        await using var timeout = await database.Faults.SetIdleTimeoutAsync(ServerIdleTimeout);
        var advice = await ResilienceAdvisor.AdviseAsync(database.Engine, database.ConnectionString);
        Assert.That(advice.Select(a => a.Level), Does.Contain(AdviceLevel.Problem));
    }
}
