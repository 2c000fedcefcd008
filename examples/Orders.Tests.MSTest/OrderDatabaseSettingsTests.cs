using Orders.Tests;
using TestDbKit;

namespace Orders.Tests.MSTest;

/// <summary>
/// The application's connection settings pass the kit's resilience advice against a server that closes idle
/// sessions after a minute, where Npgsql's defaults (300 s idle) and MySqlConnector without its connection reset do not.
/// A server of the class's own, so that the advice reads a timeout no other test changes; its tests take turns.
/// </summary>
[TestCategory("OwnServer")] // needs a server the kit runs: filtered out where runs share an External server
public abstract class OrderDatabaseSettingsTests(DbEngine engine) : OwnServer(engine)
{
    private static readonly TimeSpan ServerIdleTimeout = TimeSpan.FromSeconds(60);

    [TestMethod]
    public async Task The_applications_settings_get_no_warning_against_a_short_server_idle_timeout()
    {
        await using var database = await LeaseAsync();
        await using var timeout = await database.Faults.SetIdleTimeoutAsync(ServerIdleTimeout);
        var advice = await ResilienceAdvisor.AdviseAsync(database.Engine, OrderWorkload.Settings(database).PooledConnectionString);
        Assert.IsFalse(advice.Any(a => a.Level >= AdviceLevel.Warning), string.Join("; ", advice));
    }

    [TestMethod]
    public async Task Naive_settings_are_a_problem_against_the_same_server()
    {
        await using var database = await LeaseAsync();
        await using var timeout = await database.Faults.SetIdleTimeoutAsync(ServerIdleTimeout);
        var advice = await ResilienceAdvisor.AdviseAsync(database.Engine, NaiveConnectionString(database));
        Assert.Contains(AdviceLevel.Problem, advice.Select(a => a.Level));
    }

    /// <summary>What an application gets when it takes the connection string as it is. MySqlConnector's default
    /// ConnectionReset=true already notices a pooled session the server dropped and replaces it, so on MySQL the
    /// naive application is one that turned it off (as some do, to save the reset's round trip).</summary>
    private static string NaiveConnectionString(TestDatabase database) =>
        database.Engine == DbEngine.MySql ? database.ConnectionString + ";ConnectionReset=false" : database.ConnectionString;
}

[TestClass, DoNotParallelize]
public sealed class PostgreSqlOrderDatabaseSettingsTests() : OrderDatabaseSettingsTests(DbEngine.PostgreSql);

[TestClass, DoNotParallelize]
public sealed class MySqlOrderDatabaseSettingsTests() : OrderDatabaseSettingsTests(DbEngine.MySql);
