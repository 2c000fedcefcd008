using System.Data.Common;
using System.Diagnostics;
using System.Text.Json;
using TestDbKit.Databases;
using TestDbKit.Engines;
using TestDbKit.Options;
using TestDbKit.Servers;
using TestDbKit.Tests.Common;

namespace TestDbKit.Tests.ManyRuns;

/// <summary>
/// Two test runs at once (two child <c>dotnet test</c> processes, two run ids) on one server that neither owns, as
/// CI jobs sharded over runners share one server: an External server (one this test starts) and a
/// <c>testdbkit serve</c> server. Run A starts first; run B's janitor sweeps while A is alive, with an age limit that
/// A's databases exceed, and must leave them alone; A's janitor drops a dead run's database that is younger than its
/// own age limit. A's faults on its database (a kill of all its sessions, read-only) must not reach B's sessions.
/// Each run fails fast when the other does: it waits for the other's word at most <c>Patience</c>.
/// </summary>
public sealed class ManyRunsTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Two_runs_on_one_external_server_keep_each_others_databases_and_sessions(DbEngine engine)
    {
        await using var server = await DbServer.StartAsync(engine); // this test's; the runs get it as External
        await TwoRunsAsync(engine, server.AdminConnectionString);
    }

    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task Two_runs_on_one_serve_server_keep_each_others_databases_and_sessions(DbEngine engine)
    {
        await using var serve = await ServeProcess.StartAsync(engine);
        await TwoRunsAsync(engine, serve.AdminConnectionString);
    }

    private static async Task TwoRunsAsync(DbEngine engine, string adminConnectionString)
    {
        var dialect = Engines.EngineRegistry.For(engine);
        // What a killed run leaves: a database named as the kit names them, young (the age rule keeps it for 3 h).
        var dead = $"{DatabaseNames.Prefix}{DateTime.UtcNow:yyMMddHHmmss}_deadrun0_d1";
        await using (var admin = dialect.CreateConnection(adminConnectionString))
        {
            await admin.OpenAsync();
            await admin.ExecuteAsync($"CREATE DATABASE {dead}");
        }

        var dir = Directory.CreateTempSubdirectory("tdk-many-runs-");
        try
        {
            var runs = await Task.WhenAll(RunAsync("a"), RunAsync("b"));
            var failed = runs.Zip(["a", "b"])
                .Select(run => (Role: run.Second, Result: Assert.Single(run.First.Results, r => r.Name.EndsWith(nameof(ManyRunsChild.One_run), StringComparison.Ordinal)), run.First.Output))
                .Where(run => run.Result.Outcome != "Passed")
                .ToList();
            Assert.True(failed.Count == 0, string.Join("\n", failed.Select(f => $"run {f.Role}: {f.Result.Outcome} {f.Result.Message}"))
                + "\n" + string.Join("\n", failed.Select(f => f.Output)));

            var a = JsonSerializer.Deserialize<ManyRunsChild.Report>(await File.ReadAllTextAsync(Path.Combine(dir.FullName, "a.json")))!;
            var b = JsonSerializer.Deserialize<ManyRunsChild.Report>(await File.ReadAllTextAsync(Path.Combine(dir.FullName, "b.json")))!;
            Assert.NotEqual(a.RunId, b.RunId);
            Assert.True(a.DeadGoneAfterSweep, $"run A's janitor left {dead}, a database of a run that holds no mark");
            Assert.True(b.OtherRunOlderThanLimit, "premise: by run B's age limit, run A's database is stale");
            Assert.True(b.OtherRunKeptAfterSweep, $"run B's janitor dropped {a.Database}, a database of run A, which was alive");
            Assert.True(a.OwnSessionEnded, "premise: run A's kill of its database's sessions ended its own session");
            Assert.True(b.CommittedAfterOtherRunsFaults, "run A's faults reached run B's session");
            Assert.Equal(1, a.RowsAtEnd);

            // Each run dropped its own databases as its process ended.
            await using var admin = dialect.CreateConnection(adminConnectionString);
            await admin.OpenAsync();
            var left = await admin.ReadColumnAsync(dialect.ListDatabasesSql(DatabaseNames.Prefix), r => r.GetString(0), CancellationToken.None);
            string[] runIds = [a.RunId, b.RunId];
            var outlived = left.Where(n => DatabaseNames.TryParse(n, out _, out var run, out _) && runIds.Contains(run)).ToList();
            Assert.True(outlived.Count == 0, $"databases outlived their run's process (run A left one pool undisposed): {string.Join(", ", outlived)}");
        }
        finally
        {
            dir.Delete(recursive: true);
        }

        Task<(IReadOnlyList<ChildTestResult> Results, string Output)> RunAsync(string role) =>
            ChildTestRuns.RunAsync(typeof(ManyRunsChild).Assembly.Location, $"FullyQualifiedName~{nameof(ManyRunsChild)}", TimeSpan.FromMinutes(3),
                trx => trx.Descendants(ChildTestRuns.Trx + "StdOut"),
                new Dictionary<string, string>
                {
                    [KitEnvironment.Provider] = "external",
                    [KitEnvironment.ExternalVariable(engine)] = adminConnectionString,
                    [KitEnvironment.AllowChaos] = "1",
                    [KitEnvironment.Ci] = "true",
                    [ManyRunsChild.DirVariable] = dir.FullName,
                    [ManyRunsChild.RoleVariable] = role,
                    [ManyRunsChild.EngineVariable] = engine.ToString(),
                    [ManyRunsChild.DeadVariable] = dead,
                    ["VSTEST_TESTHOST_SHUTDOWN_TIMEOUT"] = "10000", // time for the exit's drops (VSTest's default is 100 ms)
                });
    }

    /// <summary>A <c>testdbkit serve --json</c> of this test, stopped with SIGTERM when disposed.</summary>
    private sealed class ServeProcess : IAsyncDisposable
    {
        private readonly Process _process;

        private ServeProcess(Process process, string adminConnectionString)
        {
            _process = process;
            AdminConnectionString = adminConnectionString;
        }

        public string AdminConnectionString { get; }

        public static async Task<ServeProcess> StartAsync(DbEngine engine)
        {
            var cli = ChildProcess.BuiltBeside("../../src/TestDbKit.Cli", "TestDbKit.Cli.dll");
            var process = Process.Start(ChildProcess.Dotnet(cli, "serve", "--engine", Engines.EngineRegistry.For(engine).Key, "--provider", "local", "--json"))!;
            _ = process.StandardError.ReadToEndAsync(); // progress lines, drained so serve never blocks on them
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            var line = await process.StandardOutput.ReadLineAsync(timeout.Token) ?? throw new InvalidOperationException($"serve ended ({process.ExitCode}) without printing its server");
            using var json = JsonDocument.Parse(line);
            return new ServeProcess(process, json.RootElement.GetProperty("admin").GetProperty("connectionString").GetString()!);
        }

        public async ValueTask DisposeAsync()
        {
            Native.Signal(_process.Id, Native.SIGTERM);
            await _process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);
            _process.Dispose();
        }
    }
}

/// <summary>One of the two runs of <see cref="ManyRunsTests"/>, run only as its child. The runs meet through files in
/// a folder: A leases and writes, says "a-ready"; B sweeps, leases, opens a transaction, says "b-ready"; A kills every
/// session of its database and (on PostgreSQL) makes it read-only, says "a-faulted"; B commits and writes again, says "b-done"; A
/// checks its database is still there.</summary>
public sealed class ManyRunsChild
{
    public const string DirVariable = "TESTDBKIT_TEST_MANY_RUNS_DIR";
    public const string RoleVariable = "TESTDBKIT_TEST_MANY_RUNS_ROLE";
    public const string EngineVariable = "TESTDBKIT_TEST_MANY_RUNS_ENGINE";
    public const string DeadVariable = "TESTDBKIT_TEST_MANY_RUNS_DEAD";

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [SkippableFact]
    public async Task One_run()
    {
        Skip.IfNot(ChildTestRuns.InChildRun && Environment.GetEnvironmentVariable(DirVariable) is { Length: > 0 }, "runs only as a child of ManyRunsTests");
        var dir = Environment.GetEnvironmentVariable(DirVariable)!;
        var role = Environment.GetEnvironmentVariable(RoleVariable)!;
        var engine = Enum.Parse<DbEngine>(Environment.GetEnvironmentVariable(EngineVariable)!);
        var server = await DbServer.SharedAsync(engine);
        Assert.False(server.IsOwned, "the run must get the server as External");
        Report report;
        try
        {
            report = role == "a" ? await RunAAsync(server, dir) : await RunBAsync(server, dir);
        }
        catch
        {
            await SayAsync(dir, "failed-" + role, ""); // the other run stops waiting
            throw;
        }

        await File.WriteAllTextAsync(Path.Combine(dir, role + ".json"), JsonSerializer.Serialize(report));
    }

    private static async Task<Report> RunAAsync(DbServer server, string dir)
    {
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = CreateSchemaAsync }); // age limit: 3 h
        // A pool never disposed, as the base classes' run-wide pools are not: its databases go when the process ends.
        var undisposed = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = c => c.ExecuteAsync("CREATE TABLE notes (id int PRIMARY KEY)") });
        var left = await undisposed.LeaseAsync();
        Expect.That(await ExistsAsync(server, left.Name), $"premise: the undisposed pool's database {left.Name} exists");
        await using var db = await pool.LeaseAsync();
        await using (var first = await db.OpenConnectionAsync())
        {
            await first.ExecuteAsync("INSERT INTO items VALUES (1)");
        }

        await using var held = await db.OpenConnectionAsync();
        await SayAsync(dir, "a-ready", db.Name);
        await HearAsync(dir, "b-ready");
        Expect.That(await ExistsAsync(server, db.Name), $"{db.Name} is gone: run B's janitor dropped it while this run was alive");
        Assert.True(await db.Faults.KillAllSessionsAsync() >= 1, "the kill ended no session");
        var ownEnded = await EndedAsync(held);
        // Read-only for A's database: PostgreSQL's is a setting of that database. (On an External MySQL server the
        // kit refuses it: MySQL applies per-database settings only to users without administrative rights.)
        await using (server.Engine == DbEngine.PostgreSql ? await db.Faults.SetReadOnlyAsync() : null)
        {
            await SayAsync(dir, "a-faulted", "");
            await HearAsync(dir, "b-done");
        }

        await using var last = await db.OpenConnectionAsync();
        var rows = Convert.ToInt64(await last.ScalarAsync("SELECT count(*) FROM items"));

        // The janitor drops a run's databases once its mark is still missing a grace later, in the background.
        var dead = Environment.GetEnvironmentVariable(DeadVariable)!;
        var deadGone = await WithinAsync(async () => !await ExistsAsync(server, dead), RunLiveness.ConfirmAfter * 3);
        return new Report(DatabaseNames.RunId, db.Name, deadGone, ownEnded, false, false, false, rows);
    }

    private static async Task<Report> RunBAsync(DbServer server, string dir)
    {
        var other = await HearAsync(dir, "a-ready");
        var limit = TimeSpan.FromMilliseconds(1);
        Assert.True(DatabaseNames.TryParse(other, out var created, out _, out _), $"run A's database {other} is not named as the kit names them");
        var olderThanLimit = DateTime.UtcNow - created > limit;
        await using var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = CreateSchemaAsync, StaleDatabaseAge = limit });
        var otherKept = await ExistsAsync(server, other);
        Expect.That(olderThanLimit, $"premise: by this run's age limit, run A's database {other} is stale");
        Expect.That(otherKept, $"this run's janitor dropped {other}, a database of run A, which is alive");
        await using var db = await pool.LeaseAsync();
        await using var connection = await db.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await connection.ExecuteAsync("INSERT INTO items VALUES (1)", transaction);
        await SayAsync(dir, "b-ready", db.Name);
        await HearAsync(dir, "a-faulted");
        await transaction.CommitAsync();
        await connection.ExecuteAsync("INSERT INTO items VALUES (2)");
        await SayAsync(dir, "b-done", "");
        return new Report(DatabaseNames.RunId, db.Name, false, false, olderThanLimit, otherKept, true, 0);
    }

    private static Task CreateSchemaAsync(DbConnection connection) => connection.ExecuteAsync("CREATE TABLE items (id int PRIMARY KEY)");

    private static async Task<bool> ExistsAsync(DbServer server, string database)
    {
        await using var admin = await server.OpenAdminConnectionAsync();
        var names = await admin.ReadColumnAsync(server.Dialect.ListDatabasesSql(DatabaseNames.Prefix), r => r.GetString(0), CancellationToken.None);
        return names.Contains(database);
    }

    private static async Task<bool> WithinAsync(Func<Task<bool>> condition, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > within)
            {
                return false;
            }

            await Task.Delay(100);
        }

        return true;
    }

    private static async Task<bool> EndedAsync(DbConnection connection)
    {
        try
        {
            await connection.ScalarAsync("SELECT 1");
            return false;
        }
        catch (Exception e) when (DbErrors.IsConnectionLost(e))
        {
            return true;
        }
    }

    private static async Task SayAsync(string dir, string what, string value)
    {
        var path = Path.Combine(dir, what);
        await File.WriteAllTextAsync(path + ".tmp", value);
        File.Move(path + ".tmp", path); // whole, or not there yet
    }

    private static async Task<string> HearAsync(string dir, string what)
    {
        var path = Path.Combine(dir, what);
        await Expect.EventuallyAsync(() => Task.FromResult(File.Exists(path) || Directory.GetFiles(dir, "failed-*").Length > 0), Patience, $"the other run never said {what}");
        Expect.That(File.Exists(path), $"the other run failed before it said {what}");
        return await File.ReadAllTextAsync(path);
    }

    public sealed record Report(string RunId, string Database, bool DeadGoneAfterSweep, bool OwnSessionEnded, bool OtherRunOlderThanLimit,
        bool OtherRunKeptAfterSweep, bool CommittedAfterOtherRunsFaults, long RowsAtEnd);
}

/// <summary>A run's mark on a server it shares outlives the loss of the session that holds it.</summary>
public sealed class RunMarkTests
{
    [Theory]
    [MemberData(nameof(TestSupport.BothEngines), MemberType = typeof(TestSupport))]
    public async Task A_run_takes_its_mark_again_after_its_session_was_ended(DbEngine engine)
    {
        await using var owned = await DbServer.StartAsync(engine);
        await using var server = await DbServer.StartAsync(engine, new DbServerOptions { Provider = DbServerProvider.External, ConnectionString = owned.AdminConnectionString });
        await using var admin = await owned.OpenAdminConnectionAsync();
        var dialect = server.Dialect;
        Assert.False(await RunLiveness.IsAliveAsync(admin, dialect, DatabaseNames.RunId, CancellationToken.None), "premise: no mark before the run holds one");

        await RunLiveness.HoldAsync(server, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, CancellationToken.None);
        Assert.True(await RunLiveness.IsAliveAsync(admin, dialect, DatabaseNames.RunId, CancellationToken.None), "the run holds no mark after taking it");

        // End the session that holds the mark, as a restart or a network fault would.
        var holder = Convert.ToInt64(await admin.ScalarAsync(engine == DbEngine.PostgreSql
            ? $"SELECT pid FROM pg_stat_activity WHERE application_name = '{EngineDialect.RunMarkName(DatabaseNames.RunId)}'"
            : $"SELECT IS_USED_LOCK('{EngineDialect.RunMarkName(DatabaseNames.RunId)}')"));
        await admin.ExecuteAsync(dialect.KillSessionSql(holder));
        await ServerSessions.WaitUntilGoneAsync(owned, engine, holder);
        Assert.False(await RunLiveness.IsAliveAsync(admin, dialect, DatabaseNames.RunId, CancellationToken.None), "premise: the mark went with its session");

        await Expect.EventuallyAsync(() => RunLiveness.IsAliveAsync(admin, dialect, DatabaseNames.RunId, CancellationToken.None), RunLiveness.RenewEvery * 4,
            "the run did not take its mark again");
    }
}
