using System.Data.Common;
using TestDbKit.Tests.Common;
using TestDbKit.Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace TestDbKit.Xunit.Tests;

/// <summary>Runs a class's tests in the order of their names.</summary>
public sealed class ByName : ITestCaseOrderer
{
    public IEnumerable<TTestCase> OrderTestCases<TTestCase>(IEnumerable<TTestCase> testCases)
        where TTestCase : ITestCase =>
        testCases.OrderBy(t => t.TestMethod.Method.Name, StringComparer.Ordinal);
}

/// <summary>A reset closes every pooled connection of the process: these tests observe pools, so they run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ResetTests
{
    public const string Name = "Reset connection";
}

/// <summary>[ResetConnection] on tests that manage their own connections to a kit server.</summary>
[TestCaseOrderer("TestDbKit.Xunit.Tests.ByName", "TestDbKit.Xunit.Tests")]
[Collection(ResetTests.Name)]
public abstract class ResetConnectionWithoutBaseTests(DbEngine engine)
{
    // A pool of this class's own: nobody else takes or adds its sessions.
    private static readonly Dictionary<DbEngine, long> FirstSession = [];
    private static readonly Dictionary<DbEngine, long> ResetSession = [];
    private readonly string _tag = $"tdk-reset-{engine}";

    [Fact]
    public async Task A_an_ordinary_test_leaves_its_session_in_the_pool() =>
        FirstSession[engine] = await SessionAsync();

    [Fact, ResetConnection]
    public async Task B_a_reset_test_starts_on_a_new_session()
    {
        ResetSession[engine] = await SessionAsync();
        Assert.NotEqual(FirstSession[engine], ResetSession[engine]);
    }

    [Fact]
    public async Task C_without_reset_the_pool_hands_back_the_same_session() =>
        Assert.Equal(ResetSession[engine], await SessionAsync()); // shows B would fail without the reset

    private async Task<long> SessionAsync()
    {
        var server = await DbServer.SharedAsync(engine);
        var cs = server.Dialect.WithApplicationName(server.AdminConnectionString, _tag);
        await using var connection = server.CreateConnection(cs);
        await connection.OpenAsync();
        return await connection.SessionIdAsync(engine);
    }
}

public sealed class PostgresResetWithoutBase() : ResetConnectionWithoutBaseTests(DbEngine.PostgreSql);
public sealed class MySqlResetWithoutBase() : ResetConnectionWithoutBaseTests(DbEngine.MySql);

/// <summary>[ResetConnection] on base-class tests: the connection is replaced after xunit's Before hook.</summary>
[TestCaseOrderer("TestDbKit.Xunit.Tests.ByName", "TestDbKit.Xunit.Tests")]
[Collection(ResetTests.Name)]
public abstract class ResetConnectionOnBaseTests(DbEngine engine) : ResilientDbTestBase(engine)
{
    private static readonly Dictionary<DbEngine, HashSet<long>> Before = [];

    [Fact]
    public async Task A_records_every_session_on_the_server()
    {
        await using var admin = await Database.Server.OpenAdminConnectionAsync();
        Before[Engine] = await AllSessionsAsync(admin);
        Assert.Contains(await Connection.SessionIdAsync(Engine), Before[Engine]);
    }

    [Fact, ResetConnection]
    public async Task B_a_reset_test_runs_on_a_session_that_did_not_exist_before()
    {
        var id = await Connection.SessionIdAsync(Engine);
        Assert.DoesNotContain(id, Before[Engine]);
        Assert.Equal(1, Convert.ToInt32(await Connection.ScalarAsync("SELECT 1")));
    }

    [Fact, ResetConnection(After = true)]
    public async Task C_reset_after_works_too() =>
        Assert.Equal(1, Convert.ToInt32(await Connection.ScalarAsync("SELECT 1")));

    private async Task<HashSet<long>> AllSessionsAsync(DbConnection admin)
    {
        await using var command = admin.CreateCommand();
        command.CommandText = Engine == DbEngine.PostgreSql ? "SELECT pid FROM pg_stat_activity" : "SELECT ID FROM information_schema.PROCESSLIST";
        await using var reader = await command.ExecuteReaderAsync();
        var ids = new HashSet<long>();
        while (await reader.ReadAsync())
        {
            ids.Add(Convert.ToInt64(reader.GetValue(0)));
        }

        return ids;
    }
}

public sealed class PostgresResetOnBase() : ResetConnectionOnBaseTests(DbEngine.PostgreSql);
public sealed class MySqlResetOnBase() : ResetConnectionOnBaseTests(DbEngine.MySql);
