using System.Data.Common;
using System.Text.Json;

namespace TestDbKit.Tests.Killed;

/// <summary>A test run SIGKILLed mid-fault, run only as a child of <see cref="KilledRun"/>: it leases a database on a
/// server of its own (owned) or on the server it is handed as External (shared), injects one lasting fault, writes what
/// the parent needs to see the fault (<see cref="Report"/>) and waits to be killed.</summary>
public sealed class KilledChildRun
{
    public const string ReportVariable = "TESTDBKIT_TEST_KILLED_REPORT";
    public const string EngineVariable = "TESTDBKIT_TEST_KILLED_ENGINE";
    public const string KindVariable = "TESTDBKIT_TEST_KILLED_KIND";

    /// <summary>The administrator's connection string of the shared server; unset for a server of the run's own.</summary>
    public const string ExternalVariable = "TESTDBKIT_TEST_KILLED_EXTERNAL";

    [SkippableFact]
    public async Task Hold_a_fault_until_killed()
    {
        Skip.IfNot(ChildTestRuns.InChildRun && Environment.GetEnvironmentVariable(ReportVariable) is { Length: > 0 }, "runs only as a child of KilledRun");
        var engine = Enum.Parse<DbEngine>(Environment.GetEnvironmentVariable(EngineVariable)!);
        var kind = Environment.GetEnvironmentVariable(KindVariable)!;
        var external = Environment.GetEnvironmentVariable(ExternalVariable);
        var server = await DbServer.StartAsync(engine, external is { Length: > 0 }
            ? new DbServerOptions { Provider = DbServerProvider.External, ConnectionString = external }
            : new DbServerOptions { Provider = DbServerProvider.Local });
        var pool = await DatabasePool.CreateAsync(server, new DatabasePoolOptions { CreateSchema = CreateSchemaAsync, MaxDatabases = 1 });
        var db = await pool.LeaseAsync();
        string? proxy = null;
        var fault = kind switch
        {
            "freeze" => await db.Faults.FreezeServerAsync(),
            "exhaust" => await db.Faults.ExhaustConnectionsAsync(),
            "read-only" => await db.Faults.SetReadOnlyAsync(),
            "idle" => await db.Faults.SetIdleTimeoutAsync(KilledRun.Timeout),
            "idle-in-transaction" => await db.Faults.SetIdleInTransactionTimeoutAsync(KilledRun.Timeout),
            "statement-timeout" => await db.Faults.SetStatementTimeoutAsync(KilledRun.Timeout),
            "lock" => await db.Faults.HoldLockAsync("notes"),
            "network-stall" => await db.Faults.Network.StallAsync(),
            _ => throw new ArgumentException($"no such kind here: {kind}"),
        };
        if (kind == "network-stall")
        {
            proxy = db.Faults.Network.ConnectionString;
        }

        Held.AddRange([server, pool, db, fault]); // rooted: nothing of the fault may be collected (and closed) before the kill
        var report = new Report(Environment.ProcessId, server.Instance.ProcessId, server.Instance.Folder, db.Name, db.ConnectionString, proxy);
        var path = Environment.GetEnvironmentVariable(ReportVariable)!;
        await File.WriteAllTextAsync(path + ".tmp", JsonSerializer.Serialize(report));
        File.Move(path + ".tmp", path); // whole or absent: the parent acts once it appears
        await Task.Delay(Timeout.Infinite); // the fault lasts until the parent kills this process
    }

    private static readonly List<object> Held = [];

    private static Task CreateSchemaAsync(DbConnection connection) => connection.ExecuteAsync("CREATE TABLE notes (id int PRIMARY KEY)");

    /// <summary>What the parent needs to see the fault: the test host to kill, the server process and folder of a server
    /// of the run's own, the leased database and how its sessions connect (through the proxy for a stall).</summary>
    public sealed record Report(int Host, int? ServerPid, string? Folder, string Database, string ConnectionString, string? Proxy);
}
