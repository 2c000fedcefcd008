using Orders.Tests;
using TestDbKit;

namespace Orders.Tests.NUnit;

/// <summary>
/// The application's connection settings pass the kit's resilience advice against a server that closes idle
/// sessions after a minute, where Npgsql's defaults (300 s idle) and MySqlConnector without its connection reset do not.
/// A server of the fixture's own, so that the advice reads a timeout no other test changes.
/// </summary>
[TestFixture(DbEngine.PostgreSql)]
[TestFixture(DbEngine.MySql)]
[Category("OwnServer")] // needs a server the kit runs: filtered out where runs share an External server
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
        var advice = await ResilienceAdvisor.AdviseAsync(database.Engine, NaiveConnectionString(database));
        Assert.That(advice.Select(a => a.Level), Does.Contain(AdviceLevel.Problem));
    }

    /// <summary>What an application gets when it takes the connection string as it is. MySqlConnector's default
    /// ConnectionReset=true already notices a pooled session the server dropped and replaces it, so on MySQL the
    /// naive application is one that turned it off (as some do, to save the reset's round trip).</summary>
    private static string NaiveConnectionString(TestDatabase database) =>
        database.Engine == DbEngine.MySql ? database.ConnectionString + ";ConnectionReset=false" : database.ConnectionString;
}
