using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using TestDbKit.Diagnostics;
using TestDbKit.Faults;

namespace TestDbKit.Cli;

/// <summary>
/// <c>testdbkit chaos</c>: a seeded schedule of faults against a server of the kit while another process (the
/// test suite) uses it. Server-level faults (crash, restart, freeze, exhaust) are asked of the <c>testdbkit serve</c>
/// that owns the server; the others run as SQL on the kit's <c>tdk_…</c> databases only (or on one, with
/// <c>--database</c>). A server no <c>testdbkit serve</c> owns is refused, unless <c>TESTDBKIT_ALLOW_CHAOS=1</c>, and
/// then only session-level faults run. The faults it offers, their names and their help come from the fault
/// catalogue: every kind that needs no argument of its own. <c>--duration</c> is a hard cap: a pause or hold that
/// would run past it is cut at it, and the fault undone.
/// </summary>
internal static class ChaosCommand
{
    /// <summary>The faults <c>--faults</c> accepts: the catalogue's kinds that need nothing beyond a hold and the
    /// timeout faults' value (the network kinds but bandwidth and cut, which need a value of their own).</summary>
    internal static IReadOnlyList<FaultKind> Offered =>
        [.. FaultCatalogue.All.Where(k => !FaultRunner.NeedsTable(k) && !FaultRunner.NeedsSession(k) && !FaultRunner.NeedsValue(k))];

    /// <summary>What the fault list of the help says beside a kind.</summary>
    internal static string? Note(FaultKind kind) =>
        kind.Scope == FaultScope.Server ? "needs a server testdbkit serve owns"
        : kind is NetworkLatency ? $"needs serve --proxy; {FaultRunner.ValueText(kind, new FaultInputs())}"
        : FaultRunner.IsNetwork(kind) ? "needs serve --proxy"
        : null;

    private static string[] AllFaults => [.. Offered.Select(k => k.Name)];

    /// <summary>What runs when <c>--faults</c> is not given: the session-level faults any kit server can take.</summary>
    private static string[] DefaultFaults => [FaultCatalogue.Get<KillAllSessions>().Name, FaultCatalogue.Get<IdleTimeout>().Name];

    public static Command Create()
    {
        var engine = EngineOption.Create(required: false, "needed with a driver connection string; a URL names its engine");
        var connection = ConnectionInput.Option("the administrator's connection string or URL that 'testdbkit serve' printed (its admin object)");
        var database = new Option<string?>("--database") { Description = "limit every fault to this kit database (tdk_...), so parallel workers on one server do not hit each other" };
        var seed = new Option<int?>("--seed") { Description = "the seed: the same seed injects the same faults after the same pauses (default: TESTDBKIT_CHAOS_SEED, else random, printed)" };
        var duration = TimeOption("--duration", "how long to inject faults, a hard cap: a hold is cut and undone at it, e.g. 60s, 2m, 500ms (default 60s)");
        var interval = TimeOption("--interval", "the mean pause between faults, drawn from an exponential distribution (default 5s)");
        var maxHold = TimeOption("--max-hold", $"the longest a lasting fault lasts; the shortest is {ChaosPlanner.MinimumHold.TotalMilliseconds:0}ms (default 2s)");
        var value = TimeOption("--value", $"the timeout the timeout faults set (default {FaultEvents.Time(TimeoutFault.DefaultTimeout)})");
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
                r.AddError(FaultCatalogue.Find(unknown) is { } kind
                    ? $"--faults: '{unknown}' needs arguments of its own; inject it with 'testdbkit fault {unknown}' ({FaultCommand.Note(kind)})."
                    : $"--faults: '{unknown}' is not a fault; choose from {string.Join(", ", AllFaults)}.");
            }
        });
        var report = new Option<string?>("--report") { Description = "also write a self-contained HTML report (timeline, times to recover, seed) to this file" };
        var json = new Option<bool>("--json") { Description = "print a JSON line as each fault starts and ends, then one summary object as the last line" };
        var command = new Command("chaos", ToolHelp.WithFaults("Inject a seeded schedule of faults into a server started by 'testdbkit serve' while a test suite uses it.",
            Offered.Select(k => (k, Note(k)))))
        {
            engine, connection, database, seed, duration, interval, maxHold, value, faults, report, json,
        };
        ConnectionInput.Validate(command, engine, connection);
        command.Validators.Add(r =>
        {
            // A seed from the variable is input too: a typo must not run another schedule than the one to replay.
            // Read only when --seed is not given (its own parser judges a bad --seed).
            try
            {
                _ = r.GetResult(seed) is null ? ChaosSchedule.SeedFromEnvironment() : null;
            }
            catch (ArgumentException e)
            {
                r.AddError(e.Message);
            }
        });
        command.SetAction(async (result, ct) =>
        {
            var options = new ChaosRun(
                ConnectionInput.Read(result, engine, connection),
                result.GetValue(database),
                result.GetValue(seed) ?? ChaosSchedule.SeedFromEnvironment() ?? Random.Shared.Next(),
                result.GetValue(duration) ?? TimeSpan.FromSeconds(60),
                result.GetValue(interval) ?? TimeSpan.FromSeconds(5),
                result.GetValue(maxHold) ?? TimeSpan.FromSeconds(2),
                result.GetValue(value),
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
        var kinds = run.Faults.Select(f => FaultCatalogue.Find(f)!).ToList();
        SessionFaults sessions;
        string where;
        Servers.ServedServer? served;
        try
        {
            (sessions, served, where) = await FaultRunner.ConnectAsync(run.Input, kinds, run.Database, ct).ConfigureAwait(false);
        }
        catch (Refusal refusal)
        {
            await Console.Error.WriteLineAsync("testdbkit chaos: " + refusal.Message).ConfigureAwait(false);
            return refusal.Code;
        }

        RunLog.Name = "testdbkit-chaos";
        RunLog.Seed(run.Seed, "testdbkit chaos");
        var owner = served is null ? "not owned by the kit: session-level faults on tdk_ databases only" : $"owned by testdbkit serve pid {served.Pid}";
        await Console.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"chaos on {where}{(run.Database is null ? "" : $", database {run.Database}")} ({owner}): seed {run.Seed}, {run.Duration.TotalSeconds:0.#} s, faults {string.Join(",", run.Faults)}. " +
            $"Replay: testdbkit chaos --engine {run.Input.Dialect.Key} --connection ...{(run.Database is null ? "" : $" --database {run.Database}")} --seed {run.Seed} " +
            $"--duration {run.Duration.TotalSeconds:0.###}s --interval {run.Interval.TotalMilliseconds:0}ms --max-hold {run.MaxHold.TotalMilliseconds:0}ms " +
            $"{(run.Value is { } v ? $"--value {FaultEvents.Time(v)} " : "")}--faults {string.Join(",", run.Faults)}")).ConfigureAwait(false);

        using var stop = new StopSignals(ct);
        var events = new FaultEvents(run.Json, Console.Out);
        var records = new List<ChaosRecord>();
        var started = Stopwatch.GetTimestamp();
        TimeSpan Left() => run.Duration - Stopwatch.GetElapsedTime(started);
        foreach (var (pause, fault, hold) in ChaosPlanner.Plan(run.Seed, kinds, run.Interval, run.MaxHold))
        {
            if (Left() <= pause || stop.Token.IsCancellationRequested)
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

            if (Left() <= TimeSpan.Zero)
            {
                break;
            }

            // The deadline caps the hold: the fault is undone when the run's time is up.
            records.Add(await InjectAsync(fault, hold, sessions, run.Value, events, started, started + (long)(run.Duration.TotalSeconds * Stopwatch.Frequency), stop.Token).ConfigureAwait(false));
        }

        var summary = RunReport.Capture();
        var failed = records.Count(e => e.Error is not null || e.BackAfter is null && FaultCatalogue.Find(e.Fault)!.Scope == FaultScope.Server);
        if (run.ReportPath is { } path)
        {
            await summary.WriteHtmlAsync(path, CancellationToken.None).ConfigureAwait(false);
        }

        if (run.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                seed = run.Seed,
                engine = run.Input.Engine.ToString(),
                server = where,
                database = run.Database,
                owned = served is not null,
                durationMs = (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds,
                faults = records.Select(e => new
                {
                    atMs = (long)e.At.TotalMilliseconds,
                    fault = e.Fault,
                    holdMs = (long)e.Hold.TotalMilliseconds,
                    heldMs = (long)e.Held.TotalMilliseconds,
                    detail = e.Detail,
                    backAfterMs = e.BackAfter?.TotalMilliseconds,
                    error = e.Error,
                }),
                faultsByKind = records.GroupBy(e => e.Fault).ToDictionary(g => g.Key, g => g.Count()),
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
            Console.WriteLine(FormattableString.Invariant($"chaos seed {run.Seed}: {records.Count} fault(s), {failed} failed{back}")
                + (run.ReportPath is null ? "" : $"; report: {run.ReportPath}"));
        }

        return failed > 0 ? ExitCodes.Problems : ExitCodes.Ok;
    }

    /// <summary>Injects one fault, says so as it starts and ends, holds a lasting one for <paramref name="hold"/> but
    /// never past <paramref name="deadline"/> (a timestamp) nor a stop, and undoes it.</summary>
    private static async Task<ChaosRecord> InjectAsync(FaultKind fault, TimeSpan hold, SessionFaults sessions, TimeSpan? value, FaultEvents events,
        long started, long deadline, CancellationToken stop)
    {
        var at = Stopwatch.GetElapsedTime(started);
        var began = Stopwatch.GetTimestamp();
        var where = sessions.WhereOf(fault);
        string? detail = null;
        string? error = null;
        TimeSpan? backAfter = null;
        var held = TimeSpan.Zero;
        try
        {
            // Injected whole even when the run is stopped meanwhile; then undone at once.
            // --value is the timeout faults' value; a latency keeps the catalogue's.
            var inputs = fault is TimeoutFault ? new FaultInputs(value) : new FaultInputs();
            var outcome = await FaultRunner.InjectAsync(fault, sessions, inputs, CancellationToken.None).ConfigureAwait(false);
            events.Started(fault.Name, where, FaultRunner.ValueText(fault, inputs));
            var inEffect = Stopwatch.GetTimestamp();
            detail = outcome.Detail;
            if (outcome.Undo is { } undo)
            {
                try
                {
                    var left = TimeSpan.FromTicks(Math.Min(hold.Ticks, Stopwatch.GetElapsedTime(inEffect, deadline).Ticks));
                    if (left > TimeSpan.Zero)
                    {
                        await Task.Delay(left, stop).ConfigureAwait(false);
                    }
                }
                catch (OperationCanceledException)
                {
                    // Stopped: undo now.
                }
                finally
                {
                    held = Stopwatch.GetElapsedTime(inEffect);
                    await undo.DisposeAsync().ConfigureAwait(false);
                }
            }

            if (fault.Scope == FaultScope.Server)
            {
                // From the fault's start for a crash or restart; from the undo for a lasting one.
                (backAfter, detail) = await FaultRunner.RecoveryAsync(fault, sessions, fault.Lasting ? Stopwatch.GetTimestamp() : began, CancellationToken.None).ConfigureAwait(false);
            }

            events.Ended(fault.Name, where, outcome.Count, detail);
        }
        catch (Exception e)
        {
            error = e.Message;
            events.Failed(fault.Name, where, e.Message);
        }

        return new ChaosRecord(at, fault.Name, fault.Lasting ? hold : TimeSpan.Zero, held, detail, backAfter, error);
    }

    internal static Option<TimeSpan?> TimeOption(string name, string description) => new(name)
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

    private sealed record ChaosRun(ConnectionInput Input, string? Database, int Seed, TimeSpan Duration, TimeSpan Interval, TimeSpan MaxHold, TimeSpan? Value,
        IReadOnlyList<string> Faults, string? ReportPath, bool Json);

    /// <summary>One fault injected: when (from the start), which, how long it was held, what it did, how long
    /// until the server answered a new session again (server-level faults), and why it failed.</summary>
    private sealed record ChaosRecord(TimeSpan At, string Fault, TimeSpan Hold, TimeSpan Held, string? Detail, TimeSpan? BackAfter, string? Error);
}
