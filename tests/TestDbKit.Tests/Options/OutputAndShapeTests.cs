using Npgsql;
using TestDbKit.Servers;
using TestDbKit.Sessions;
using TestDbKit.Tests.Databases;

namespace TestDbKit.Tests.Options;

/// <summary>
/// The core of "options from code" that the adapters only wire up: what the kit says while it works for a test
/// reaches that test's output (its log messages too), and a connection-string shape that fails says so clearly
/// and costs the pool nothing.
/// </summary>
public sealed class OutputAndShapeTests
{
    [Fact]
    public async Task The_kits_log_messages_reach_the_current_tests_output()
    {
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        TestOutput.Enter(new TestOutput(lines.Enqueue)); // this test's flow only: restored when the method returns
        await using var server = await DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { Provider = DbServerProvider.Local });
        Assert.Contains(lines, l => l.StartsWith("[TestDbKit] Information: Started ", StringComparison.Ordinal) && l.Contains(server.ToString(), StringComparison.Ordinal));
    }

    [Fact]
    public async Task Without_a_test_the_kit_says_nothing_to_anyones_output()
    {
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await WithOutputAsync(lines); // enters in a flow of its own, which ends with it
        Assert.Null(TestOutput.Current);
        await using var server = await DbServer.StartAsync(DbEngine.PostgreSql, new DbServerOptions { Provider = DbServerProvider.Local });
        Assert.Empty(lines);
    }

    [Fact]
    public async Task A_leak_report_goes_to_the_tests_output()
    {
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var pool = await PoolSetup.CreatePoolAsync(DbEngine.PostgreSql, Schemas.Small(DbEngine.PostgreSql), maxDatabases: 1);
        var options = new SessionOptions("Some.Test", DbEngine.PostgreSql, (_, _) => Task.CompletedTask, new object(), IsolationMode.Reset, false, false)
        {
            Output = new TestOutput(lines.Enqueue),
        };
        var session = await TestSession.StartAsync(options, pool, default);
        var leaked = await session.Database.OpenConnectionAsync();
        Assert.Equal(System.Data.ConnectionState.Open, leaked.State); // the premise: a connection is left open
        await session.EndAsync(default);
        Assert.Contains(lines, l => l.StartsWith("[TestDbKit] Some.Test: left 1 connection(s) open", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_chaos_schedules_seed_goes_to_the_output_of_the_test_holding_the_database()
    {
        var lines = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await using var pool = await PoolSetup.CreatePoolAsync(DbEngine.PostgreSql, Schemas.Small(DbEngine.PostgreSql), maxDatabases: 1);
        await using var database = await pool.LeaseAsync(shape: null, new TestOutput(lines.Enqueue), default);
        Assert.Null(TestOutput.Current); // the premise: as in a test's body, no output is current in this flow

        await using (ChaosSchedule.Start(database.Faults, new ChaosOptions { Seed = 4242, Faults = [ChaosFault.KillSessions], MeanInterval = TimeSpan.FromHours(1) }))
        {
        }

        Assert.Contains(lines, l => l.Contains("chaos schedule seed 4242", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_shape_that_fails_is_a_clear_error_and_the_database_goes_back()
    {
        await using var pool = await PoolSetup.CreatePoolAsync(DbEngine.PostgreSql, Schemas.Small(DbEngine.PostgreSql), maxDatabases: 1);
        var e = await Assert.ThrowsAsync<InvalidOperationException>(async () => await pool.LeaseAsync(c => c["No Such Keyword"] = 1, output: null, default));
        Assert.Contains("TestDbOptions.ConnectionString", e.Message, StringComparison.Ordinal);
        Assert.Contains(nameof(NpgsqlConnectionStringBuilder), e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(pool.Server.Dialect.PasswordOf(pool.Server.AdminConnectionString) ?? "\0", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, pool.FreeLeases);

        await using var database = await pool.LeaseAsync(c => ((NpgsqlConnectionStringBuilder)c).CommandTimeout = 17, output: null, default);
        Assert.Equal(17, new NpgsqlConnectionStringBuilder(database.ConnectionString).CommandTimeout);
        Assert.Equal(DatabasePool.TestApplicationName(database.Name), new NpgsqlConnectionStringBuilder(database.ConnectionString).ApplicationName);
    }

    [Fact]
    public async Task The_kits_application_name_survives_a_shape_that_changes_it()
    {
        await using var pool = await PoolSetup.CreatePoolAsync(DbEngine.PostgreSql, Schemas.Small(DbEngine.PostgreSql), maxDatabases: 1);
        await using var database = await pool.LeaseAsync(c => c["Application Name"] = "mine", output: null, default);
        await using var connection = await database.OpenConnectionAsync();
        Assert.Equal(DatabasePool.TestApplicationName(database.Name), await connection.ScalarAsync("SELECT current_setting('application_name')"));
    }

    private static async Task WithOutputAsync(System.Collections.Concurrent.ConcurrentQueue<string> lines)
    {
        TestOutput.Enter(new TestOutput(lines.Enqueue));
        await Task.Yield();
    }
}
