using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using TestDbKit.Engines;
using TestDbKit.Options;

namespace TestDbKit.Tests.Killed;

/// <summary>A child <c>dotnet test</c> of <see cref="KilledChildRun"/> holding one fault, SIGKILLed on demand; and how
/// the parent sees, from outside, whether that fault is in effect.</summary>
internal sealed class KilledRun : IAsyncDisposable
{
    /// <summary>The timeout the child's timeout faults set: unlike any server default.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(3);

    private readonly Process _dotnetTest;
    private readonly Task<string> _stdout;
    private readonly Task<string> _stderr;
    private readonly DirectoryInfo _dir;

    private KilledRun(DbEngine engine, string kind, Process dotnetTest, Task<string> stdout, Task<string> stderr, DirectoryInfo dir, KilledChildRun.Report report)
    {
        Engine = engine;
        Kind = kind;
        _dotnetTest = dotnetTest;
        _stdout = stdout;
        _stderr = stderr;
        _dir = dir;
        Report = report;
    }

    public DbEngine Engine { get; }

    public string Kind { get; }

    public KilledChildRun.Report Report { get; }

    /// <summary>When the test host was killed (<see cref="Stopwatch.GetTimestamp"/>): what recovery times count from.</summary>
    public long KilledAt { get; private set; }

    /// <summary>Starts the child and returns once its fault is in effect (its report is written).</summary>
    public static async Task<KilledRun> StartAsync(DbEngine engine, string kind, string? external)
    {
        var dir = Directory.CreateTempSubdirectory("tdk-killed-");
        var report = Path.Combine(dir.FullName, "report.json");
        var psi = ChildProcess.Dotnet("test", typeof(KilledRun).Assembly.Location, "--filter", $"FullyQualifiedName~{nameof(KilledChildRun)}");
        psi.Environment[ChildTestRuns.Variable] = "1";
        psi.Environment.Remove("TESTDBKIT_REPORT_DIR");
        psi.Environment[KitEnvironment.AllowChaos] = "1";
        psi.Environment[KilledChildRun.ReportVariable] = report;
        psi.Environment[KilledChildRun.EngineVariable] = engine.ToString();
        psi.Environment[KilledChildRun.KindVariable] = kind;
        psi.Environment[KilledChildRun.ExternalVariable] = external ?? "";
        var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var clock = Stopwatch.StartNew();
        while (!File.Exists(report))
        {
            if (process.HasExited || clock.Elapsed > TimeSpan.FromMinutes(2))
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
                dir.Delete(recursive: true);
                throw new InvalidOperationException($"the child run never held {kind} on {engine}:\n{await stdout}\n{await stderr}");
            }

            await Task.Delay(50);
        }

        var read = JsonSerializer.Deserialize<KilledChildRun.Report>(await File.ReadAllTextAsync(report))!;
        return new KilledRun(engine, kind, process, stdout, stderr, dir, read);
    }

    /// <summary>SIGKILLs the test host (no finally block, no exit handler, no dispose runs) and waits until it is gone and
    /// <c>dotnet test</c> has noticed.</summary>
    public async Task KillAsync()
    {
        KilledAt = Stopwatch.GetTimestamp();
        Process.Start("kill", ["-KILL", Report.Host.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();
        await TestSupport.EventuallyAsync(() => !TestSupport.ProcessExists(Report.Host), TimeSpan.FromSeconds(10), $"the killed test host {Report.Host} is gone");
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await _dotnetTest.WaitForExitAsync(deadline.Token);
    }

    /// <summary>Whether the fault is in effect, as a new client of the child's database sees it (freeze: a new session
    /// gets no answer; read-only: a write fails; a timeout: a new session has the child's value; exhaust: "too many";
    /// lock: the table cannot be read within 300 ms; stall: no answer through the child's proxy).</summary>
    /// <param name="connectionString">Another database's sessions (the next run's), instead of the child's.</param>
    public async Task<bool> InEffectAsync(string? connectionString = null)
    {
        var dialect = EngineRegistry.For(Engine);
        var cs = connectionString ?? Report.ConnectionString;
        return Kind switch
        {
            "freeze" => !await AnswersAsync(cs),
            "network-stall" => !await AnswersAsync(Report.Proxy!),
            "exhaust" => await FailsAsync(cs, e => dialect.IsTooManyConnections(e)),
            "read-only" => await FailsAsync(cs, _ => true, "INSERT INTO notes VALUES (1)"),
            "lock" => await FailsAsync(cs, _ => true, Engine == DbEngine.PostgreSql ? "SET lock_timeout = '300ms'" : "SET SESSION lock_wait_timeout = 1", "SELECT count(*) FROM notes"),
            _ => await TimeoutOfNewSessionAsync(cs) == Timeout,
        };
    }

    private Task<DbConnection> OpenAsync(string connectionString, int timeoutSeconds = 5)
    {
        var dialect = EngineRegistry.For(Engine);
        return dialect.OpenAsync(dialect.ForProbe(connectionString, TimeSpan.FromSeconds(timeoutSeconds)), CancellationToken.None);
    }

    private async Task<bool> AnswersAsync(string connectionString)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        try
        {
            await using var session = await OpenAsync(connectionString, timeoutSeconds: 2).WaitAsync(deadline.Token);
            return Convert.ToInt32(await session.ScalarAsync("SELECT 1").WaitAsync(deadline.Token), CultureInfo.InvariantCulture) == 1;
        }
        catch (Exception e) when (e is DbException or TimeoutException or IOException or OperationCanceledException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>True when opening a session or running <paramref name="sql"/> (in order) fails as <paramref name="expected"/> says.</summary>
    private async Task<bool> FailsAsync(string connectionString, Func<DbException, bool> expected, params string[] sql)
    {
        try
        {
            await using var session = await OpenAsync(connectionString);
            foreach (var statement in sql)
            {
                await session.ExecuteAsync(statement);
            }

            if (Kind == "read-only")
            {
                await session.ExecuteAsync("DELETE FROM notes"); // the probe leaves the table as it found it
            }

            return false;
        }
        catch (DbException e) when (expected(e))
        {
            return true;
        }
    }

    private async Task<TimeSpan> TimeoutOfNewSessionAsync(string connectionString)
    {
        await using var session = await OpenAsync(connectionString);
        return await SessionTimeouts.OfAsync(session, Engine, Kind);
    }

    /// <summary>What the child printed, for a failure message.</summary>
    public async Task<string> OutputAsync() =>
        _dotnetTest.HasExited ? $"{await _stdout}\n{await _stderr}" : "(the child still runs)";

    public async ValueTask DisposeAsync()
    {
        if (!_dotnetTest.HasExited)
        {
            _dotnetTest.Kill(entireProcessTree: true);
            await _dotnetTest.WaitForExitAsync();
        }

        if (TestSupport.ProcessExists(Report.Host))
        {
            Process.Start("kill", ["-KILL", Report.Host.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();
        }

        _dotnetTest.Dispose();
        _dir.Delete(recursive: true);
    }
}
