using System.Data.Common;
using System.Runtime.Versioning;
using System.Text.Json;
using TestDbKit.Engines;
using TestDbKit.Options;

namespace TestDbKit.Tests.Reuse;

/// <summary>Runs that end: each is a child <c>dotnet test</c> of <see cref="ReuseChildRun"/> with TESTDBKIT_REUSE=1.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class ReuseRunTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_later_run_finds_the_server_and_template_and_none_of_an_earlier_runs_rows_or_databases(DbEngine engine)
    {
        await using var kept = new KeptServers();
        var first = await RunAsync(engine, kept.Root);
        // The premise that the first run is over: its test host is gone (dotnet test may return just before it exits).
        await TestSupport.EventuallyAsync(() => !TestSupport.ProcessExists(first.Host), TimeSpan.FromSeconds(30), $"the first run's test host {first.Host} exits");
        var second = await RunAsync(engine, kept.Root);
        var seen = $"first run: {JsonSerializer.Serialize(first)}\nsecond run: {JsonSerializer.Serialize(second)}";

        // The premises: the first run started the server and wrote a row in a database of its own.
        Assert.False(first.Attached);
        Assert.Equal(0, first.RowsSeen);
        Assert.Contains(first.Database, first.Databases);

        Assert.True(second.Attached, "the later run did not find the kept server");
        Assert.Equal(first.Pid, second.Pid);
        if (engine == DbEngine.PostgreSql)
        {
            Assert.Equal(first.Template, second.Template);
            Assert.Contains(first.Template!, second.Databases);
        }

        Assert.Equal(0, second.RowsSeen);
        Assert.True(first.Databases.Where(d => d != first.Template).All(d => !second.Databases.Contains(d)), seen);
    }

    [Fact]
    public async Task A_run_that_ended_without_a_word_does_not_keep_the_server_past_its_idle_time()
    {
        await using var kept = new KeptServers();
        var run = await RunAsync(DbEngine.PostgreSql, kept.Root, idle: "1s"); // its shared server is never disposed: it unregisters nothing
        var folder = kept.ServerFolder;
        var runs = Path.Combine(folder, "runs");
        await TestSupport.EventuallyAsync(() => !TestSupport.ProcessExists(run.Host), TimeSpan.FromSeconds(30), $"the run's test host {run.Host} exits");
        await TestSupport.EventuallyAsync(() => !TestSupport.ProcessExists(run.Pid), TimeSpan.FromSeconds(30), $"the kept server {run.Pid} stops");
        // The watcher deletes the state and the registrations right after the server is gone.
        await TestSupport.EventuallyAsync(() => !File.Exists(Path.Combine(folder, "state")) && !Directory.Exists(runs), TimeSpan.FromSeconds(10), "the state and the dead run's registration are deleted");
    }

    private static async Task<ReuseChildRun.Report> RunAsync(DbEngine engine, string root, string idle = "5m")
    {
        var report = Path.Combine(Path.GetDirectoryName(root)!, $"report-{Guid.NewGuid():N}.json");
        var (results, output) = await ChildTestRuns.RunAsync(
            typeof(ReuseRunTests).Assembly.Location,
            $"FullyQualifiedName~{nameof(ReuseChildRun)}",
            TimeSpan.FromMinutes(3),
            _ => [],
            new Dictionary<string, string>
            {
                [KitEnvironment.Reuse] = "1",
                [KitEnvironment.ReuseDir] = root,
                [KitEnvironment.ReuseIdle] = idle,
                [KitEnvironment.Ci] = "",
                [KitEnvironment.Provider] = "local",
                [ReuseChildRun.ReportVariable] = report,
                [ReuseChildRun.EngineVariable] = engine.ToString(),
            });
        Assert.True(results.Count == 1 && results[0].Outcome == "Passed", output);
        return JsonSerializer.Deserialize<ReuseChildRun.Report>(await File.ReadAllTextAsync(report))!;
    }
}

/// <summary>One test run on a kept server, run only as a child of <see cref="ReuseRunTests"/>: it leases a database,
/// says what it sees, writes a row, and ends without stopping anything (the run's exit is its end).</summary>
public sealed class ReuseChildRun
{
    public const string ReportVariable = "TESTDBKIT_TEST_REUSE_REPORT";
    public const string EngineVariable = "TESTDBKIT_TEST_REUSE_ENGINE";

    [SkippableFact]
    public async Task One_run()
    {
        Skip.IfNot(ChildTestRuns.InChildRun && Environment.GetEnvironmentVariable(ReportVariable) is { Length: > 0 }, "runs only as a child of ReuseRunTests");
        var engine = Enum.Parse<DbEngine>(Environment.GetEnvironmentVariable(EngineVariable)!);
        var server = await DbServer.SharedAsync(engine);
        var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = CreateSchemaAsync });
        var db = await pool.LeaseAsync();
        await using var connection = await db.OpenConnectionAsync();
        var rows = Convert.ToInt32(await connection.ScalarAsync("SELECT count(*) FROM items"));
        await connection.ExecuteAsync("INSERT INTO items VALUES (1)");
        await using var admin = await server.OpenAdminConnectionAsync();
        var databases = await admin.ReadColumnAsync(server.Dialect.ListDatabasesSql("tdk_"), r => r.GetString(0), CancellationToken.None);
        var report = new Report(Environment.ProcessId, server.Instance.ProcessId ?? 0, server.Instance.Kept?.Attached ?? false, pool.TemplateName, db.Name, rows, databases);
        await File.WriteAllTextAsync(Environment.GetEnvironmentVariable(ReportVariable)!, JsonSerializer.Serialize(report));
    }

    private static Task CreateSchemaAsync(DbConnection connection) => connection.ExecuteAsync("CREATE TABLE items (id int PRIMARY KEY)");

    public sealed record Report(int Host, int Pid, bool Attached, string? Template, string Database, int RowsSeen, List<string> Databases);
}
