using System.CommandLine;
using System.CommandLine.Parsing;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using TestDbKit.Diagnostics;
using TestDbKit.Engines;
using TestDbKit.Faults;
using TestDbKit.Servers;

namespace TestDbKit.Cli;

/// <summary>
/// <c>testdbkit chaos</c>: a seeded schedule of faults against a server of the kit while another process (the
/// test suite) uses it. Server-level faults (crash, restart, freeze) are asked of the <c>testdbkit serve</c>
/// that owns the server; session-level ones (kill, kill-idle, kill-busy, idle) run as SQL on the kit's <c>tdk_…</c> databases only.
/// A server no <c>testdbkit serve</c> owns is refused, unless <c>TESTDBKIT_ALLOW_CHAOS=1</c>, and then only
/// session-level faults run. The faults it offers, their names and their help come from the fault catalogue:
/// every kind a whole-server target can drive.
/// </summary>
internal static class ChaosCommand
{
    /// <summary>The faults <c>--faults</c> accepts: the catalogue's kinds a whole server can take, by name.</summary>
    internal static IReadOnlyList<FaultKind> Offered => FaultCatalogue.DrivenBy(FaultTargets.Server);

    private static string[] AllFaults => [.. Offered.Select(k => k.Name)];

    /// <summary>What runs when <c>--faults</c> is not given: the session-level faults any kit server can take.</summary>
    private static string[] DefaultFaults => [FaultCatalogue.Get<KillAllSessions>().Name, FaultCatalogue.Get<IdleTimeout>().Name];

    public static Command Create()
    {
        var engine = EngineOption.Create(required: true);
        var connection = new Option<string>("--connection") { Description = "the administrator's connection string that 'testdbkit serve' printed", Required = true };
        var seed = new Option<int?>("--seed") { Description = "the seed: the same seed injects the same faults after the same pauses (default: TESTDBKIT_CHAOS_SEED, else random, printed)" };
        var duration = TimeOption("--duration", "how long to inject faults, e.g. 60s, 2m, 500ms (default 60s)");
        var interval = TimeOption("--interval", "the mean pause between faults, drawn from an exponential distribution (default 5s)");
        var maxHold = TimeOption("--max-hold", $"the longest a lasting fault ({string.Join(", ", Offered.Where(k => k.Lasting).Select(k => k.Name))}) lasts; the shortest is {ChaosPlanner.MinimumHold.TotalMilliseconds:0}ms (default 2s)");
        var faults = new Option<string[]>("--faults")
        {
            Description = "comma-separated, from: " + string.Join(", ", AllFaults) + $" (default: {string.Join(",", DefaultFaults)})",
            CustomParser = r => [.. r.Tokens.SelectMany(t => t.Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))],
        };
        faults.Validators.Add(r =>
        {
            var chosen = r.GetValueOrDefault<string[]>() ?? [];
            if (chosen.Length == 0)
            {
                r.AddError($"--faults: name at least one of {string.Join(", ", AllFaults)}.");
            }
            else if (chosen.FirstOrDefault(f => !AllFaults.Contains(f, StringComparer.Ordinal)) is { } unknown)
            {
                r.AddError($"--faults: '{unknown}' is not a fault; choose from {string.Join(", ", AllFaults)}.");
            }
        });
        var report = new Option<string?>("--report") { Description = "also write a self-contained HTML report (timeline, times to recover, seed) to this file" };
        var json = new Option<bool>("--json") { Description = "print one JSON object at the end instead of text (faults still show on stderr as they happen)" };
        var command = new Command("chaos", "Inject a seeded schedule of faults into a server started by 'testdbkit serve' while a test suite uses it. Faults:\n"
            + string.Join("\n", Offered.Select(k => $"  {k.Name,-10} {k.Summary}{(k.Scope == FaultScope.Server ? " (needs a server testdbkit serve owns)" : "")}")))
        {
            engine, connection, seed, duration, interval, maxHold, faults, report, json,
        };
        command.SetAction(async (result, ct) =>
        {
            var options = new ChaosRun(
                EngineOption.Parse(result.GetValue(engine)!),
                result.GetValue(connection)!,
                result.GetValue(seed) ?? ChaosSchedule.SeedFromEnvironment() ?? Random.Shared.Next(),
                result.GetValue(duration) ?? TimeSpan.FromSeconds(60),
                result.GetValue(interval) ?? TimeSpan.FromSeconds(5),
                result.GetValue(maxHold) ?? TimeSpan.FromSeconds(2),
                // An option left out parses as an empty list, not null.
                [.. (result.GetValue(faults) is { Length: > 0 } chosen ? chosen : DefaultFaults).Distinct(StringComparer.Ordinal)],
                result.GetValue(report),
                result.GetValue(json));
            return await RunAsync(options, ct).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunAsync(ChaosRun run, CancellationToken ct)
    {
        var dialect = EngineDialect.For(run.Engine);
        var password = dialect.PasswordOfOrNull(run.ConnectionString);
        Endpoint endpoint;
        try
        {
            endpoint = dialect.Parse(run.ConnectionString);
        }
        catch (ArgumentException e)
        {
            return await FailAsync(ExitCodes.Usage, Secrets.Redact($"--connection is not a {dialect.Name} connection string: {e.Message}", password)).ConfigureAwait(false);
        }

        var where = $"{dialect.Name} at {endpoint.Host}:{endpoint.Port}";
        var served = await ServerControl.FindAsync(run.Engine, endpoint.Host, endpoint.Port, ct).ConfigureAwait(false);
        if (served is null)
        {
            if (!Options.KitEnvironment.ChaosAllowed)
            {
                return await FailAsync(ExitCodes.Refused,
                    $"refused: {where} is not a server the kit owns (no 'testdbkit serve' of this user registered it in {ServerControl.RunFolder()}). " +
                    "Chaos breaks servers: start one with 'testdbkit serve' and pass the connection string it prints. To run session-level faults " +
                    $"({string.Join(", ", SessionLevel)}) on the kit's tdk_ databases of a server the kit does not own, set {Options.KitEnvironment.AllowChaos}=1.").ConfigureAwait(false);
            }

            if (run.Faults.Where(f => KindOf(f).Scope == FaultScope.Server).ToList() is { Count: > 0 } serverLevel)
            {
                return await FailAsync(ExitCodes.Refused,
                    $"refused: {string.Join(", ", serverLevel)} need a server the kit owns, and {where} is not one ({Options.KitEnvironment.AllowChaos}=1 allows only {string.Join(", ", SessionLevel)}). " +
                    "Start the server with 'testdbkit serve', or leave those faults out.").ConfigureAwait(false);
            }
        }

        var target = $"{dialect.Name} {endpoint.Host}:{endpoint.Port}";
        var sessions = new SessionFaults(dialect, run.ConnectionString, served, target);
        try
        {
            await using var probe = await dialect.OpenAsync(dialect.ForProbe(run.ConnectionString, TimeSpan.FromSeconds(10)), ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is System.Data.Common.DbException or IOException or TimeoutException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            return await FailAsync(ExitCodes.Unreachable, Secrets.Redact($"could not connect to {where}: {e.Message} Check that 'testdbkit serve' still runs and the connection string is the one it printed.", password)).ConfigureAwait(false);
        }

        var idle = FaultCatalogue.Get<IdleTimeout>();
        if (run.Faults.Contains(idle.Name) && sessions.WhyNoIdleFault() is { } noIdle)
        {
            return await FailAsync(ExitCodes.Refused, $"refused: the {idle.Name} fault cannot run on {where}: {noIdle}. Leave '{idle.Name}' out of --faults.").ConfigureAwait(false);
        }

        RunLog.Name = "testdbkit-chaos";
        RunLog.Seed(run.Seed, "testdbkit chaos");
        var owner = served is null ? "not owned by the kit: session-level faults on tdk_ databases only" : $"owned by testdbkit serve pid {served.Pid}";
        await Console.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"chaos on {where} ({owner}): seed {run.Seed}, {run.Duration.TotalSeconds:0.#} s, faults {string.Join(",", run.Faults)}. " +
            $"Replay: testdbkit chaos --engine {Engines.EngineDialect.For(run.Engine).Key} --connection ... --seed {run.Seed} --duration {run.Duration.TotalSeconds:0.###}s " +
            $"--interval {run.Interval.TotalMilliseconds:0}ms --max-hold {run.MaxHold.TotalMilliseconds:0}ms --faults {string.Join(",", run.Faults)}")).ConfigureAwait(false);

        using var stop = new StopSignals(ct);
        var events = new List<ChaosRecord>();
        var started = Stopwatch.GetTimestamp();
        foreach (var (pause, fault, hold) in ChaosPlanner.Plan(run.Seed, [.. run.Faults.Select(KindOf)], run.Interval, run.MaxHold))
        {
            var left = run.Duration - Stopwatch.GetElapsedTime(started);
            if (left <= pause || stop.Token.IsCancellationRequested)
            {
                break;
            }

            try
            {
                await Task.Delay(pause, stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            var record = await InjectAsync(fault, hold, sessions, started, stop.Token).ConfigureAwait(false);
            events.Add(record);
            var line = record.ToString();
            if (run.Json)
            {
                await Console.Error.WriteLineAsync(line).ConfigureAwait(false);
            }
            else
            {
                Console.WriteLine(line);
            }
        }

        var summary = RunReport.Capture();
        var failed = events.Count(e => e.Error is not null || e.BackAfter is null && KindOf(e.Fault).Scope == FaultScope.Server);
        if (run.ReportPath is { } path)
        {
            await summary.WriteHtmlAsync(path, CancellationToken.None).ConfigureAwait(false);
        }

        if (run.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                seed = run.Seed,
                engine = run.Engine.ToString(),
                server = $"{endpoint.Host}:{endpoint.Port}",
                owned = served is not null,
                durationMs = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds,
                faults = events.Select(e => new
                {
                    atMs = (long)e.At.TotalMilliseconds,
                    fault = e.Fault,
                    holdMs = (long)e.Hold.TotalMilliseconds,
                    detail = e.Detail,
                    backAfterMs = e.BackAfter?.TotalMilliseconds,
                    error = e.Error,
                }),
                faultsByKind = events.GroupBy(e => e.Fault).ToDictionary(g => g.Key, g => g.Count()),
                backAfterP50Ms = summary.MedianRecoveryTime?.TotalMilliseconds,
                backAfterMaxMs = summary.MaxRecoveryTime?.TotalMilliseconds,
                failed,
                report = run.ReportPath,
            }));
        }
        else
        {
            var back = summary.MedianRecoveryTime is { } p50
                ? $"; server back after p50 {RunReport.Milliseconds(p50)}, max {RunReport.Milliseconds(summary.MaxRecoveryTime!.Value)}"
                : "";
            Console.WriteLine(FormattableString.Invariant($"chaos seed {run.Seed}: {events.Count} fault(s), {failed} failed{back}")
                + (run.ReportPath is null ? "" : $"; report: {run.ReportPath}"));
        }

        return failed > 0 ? ExitCodes.Problems : ExitCodes.Ok;
    }

    /// <summary>The offered faults that are not whole-server ones: what a server the kit does not own may take.</summary>
    private static IEnumerable<string> SessionLevel => Offered.Where(k => k.Scope != FaultScope.Server).Select(k => k.Name);

    private static FaultKind KindOf(string name) =>
        FaultCatalogue.Find(name) ?? throw new ArgumentException($"'{name}' is not a fault; choose from {string.Join(", ", AllFaults)}.", nameof(name));

    private static async Task<ChaosRecord> InjectAsync(FaultKind fault, TimeSpan hold, SessionFaults sessions, long started, CancellationToken ct)
    {
        var at = Stopwatch.GetElapsedTime(started);
        var began = Stopwatch.GetTimestamp();
        string? detail = null;
        string? error = null;
        TimeSpan? backAfter = null;
        try
        {
            // A lasting fault is held through a stop and then undone, as it never outlives the run.
            var outcome = await fault.RunAsync(sessions, hold, ct, holdThroughStop: true).ConfigureAwait(false);
            detail = outcome.Detail;
            if (fault.Scope == FaultScope.Server)
            {
                backAfter = await sessions.TimeUntilAnswersAsync(began, ct).ConfigureAwait(false);
                RunLog.Recovery(backAfter ?? Stopwatch.GetElapsedTime(began), backAfter is not null, $"server answers again after {fault.Name}");
                detail = backAfter is null ? "the server did not answer again within a minute" : "server answers again";
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            error = e.Message;
        }

        return new ChaosRecord(at, fault.Name, fault.Lasting ? hold : TimeSpan.Zero, detail, backAfter, error);
    }

    private static Option<TimeSpan?> TimeOption(string name, string description) => new(name)
    {
        Description = description,
        CustomParser = r =>
        {
            var text = r.Tokens.Count == 1 ? r.Tokens[0].Value : "";
            if (ParseTime(text) is { } time && time > TimeSpan.Zero)
            {
                return time;
            }

            r.AddError($"{name}: '{text}' is not a time above zero; write it like 60s, 2m, 500ms or 1h.");
            return null;
        },
    };

    /// <summary>"60s", "2m", "500ms", "1h", or plain seconds.</summary>
    internal static TimeSpan? ParseTime(string text)
    {
        var units = new (string Suffix, double Seconds)[] { ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("", 1) };
        foreach (var (suffix, seconds) in units)
        {
            if (text.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(text[..^suffix.Length], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
            {
                return TimeSpan.FromSeconds(value * seconds);
            }
        }

        return null;
    }

    private static async Task<int> FailAsync(int code, string message)
    {
        await Console.Error.WriteLineAsync("testdbkit chaos: " + message).ConfigureAwait(false);
        return code;
    }

    private sealed record ChaosRun(DbEngine Engine, string ConnectionString, int Seed, TimeSpan Duration, TimeSpan Interval, TimeSpan MaxHold,
        IReadOnlyList<string> Faults, string? ReportPath, bool Json);

    /// <summary>One fault injected: when (from the start), which, how long it was held, what it did, how long
    /// until the server answered a new session again (server-level faults), and why it failed.</summary>
    private sealed record ChaosRecord(TimeSpan At, string Fault, TimeSpan Hold, string? Detail, TimeSpan? BackAfter, string? Error)
    {
        public override string ToString() =>
            FormattableString.Invariant($"{At.TotalSeconds,7:0.00} s  {Fault,-8}")
            + (Hold > TimeSpan.Zero ? FormattableString.Invariant($" for {Hold.TotalMilliseconds:0} ms") : "")
            + (Detail is null ? "" : "  " + Detail)
            + (BackAfter is { } back ? $" after {RunReport.Milliseconds(back)}" : "")
            + (Error is null ? "" : $"  FAILED: {Error}");
    }
}
