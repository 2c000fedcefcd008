using System.CommandLine;
using System.Diagnostics;
using TestDbKit.Diagnostics;
using TestDbKit.Faults;

namespace TestDbKit.Cli;

/// <summary>
/// <c>testdbkit fault KIND</c>: one fault of the catalogue, now. An instant one (kill, kill-idle, crash, ...) returns
/// once done; a lasting one (idle, read-only, lock, freeze, ...) returns... after it was in effect for
/// <c>--hold</c>, or until SIGTERM/SIGINT, and undone. <c>--json</c> prints a line as it starts and one as it ends.
/// The network kinds act on the kit's TCP proxy that the <c>testdbkit serve --proxy</c> owning the server runs.
/// </summary>
internal static class FaultCommand
{
    /// <summary>Every kind of the catalogue: those the tool cannot drive are refused with the reason.</summary>
    internal static IReadOnlyList<FaultKind> Kinds => FaultCatalogue.All;

    /// <summary>What the fault list of the help says beside a kind.</summary>
    internal static string? Note(FaultKind kind) =>
        kind is NetworkLatency ? $"needs serve --proxy; --value, default {FaultRunner.ValueText(kind, new FaultInputs())}"
        : kind is NetworkBandwidth ? "needs serve --proxy and --value, bytes a second"
        : kind is NetworkCut ? "needs serve --proxy and --value, bytes"
        : FaultRunner.IsNetwork(kind) ? "needs serve --proxy"
        : FaultRunner.NeedsTable(kind) ? "needs --database and --table"
        : FaultRunner.NeedsSession(kind) ? "needs --session ID"
        : FaultRunner.TakesValue(kind) ? $"--value, default {FaultEvents.Time(TimeoutFault.DefaultTimeout)}"
        : kind.Scope == FaultScope.Server ? "needs a server testdbkit serve owns"
        : null;

    public static Command Create()
    {
        var kindArgument = new Argument<string>("KIND") { Description = "the fault (listed above)", HelpName = "KIND" };
        var engine = EngineOption.Create(required: false, "needed with a driver connection string; a URL names its engine");
        var connection = ConnectionInput.Option("the administrator's connection string or URL that 'testdbkit serve' printed (its admin object)");
        var database = new Option<string?>("--database") { Description = "limit the fault to this kit database (tdk_...); default: every tdk_ database. Not for the network faults: they hit every connection through the proxy" };
        var value = new Option<string?>("--value")
        {
            Description = $"the timeout of idle, idle-in-transaction and statement-timeout, e.g. 10s, 500ms (default {FaultEvents.Time(TimeoutFault.DefaultTimeout)}); " +
                "the delay of network-latency (each way, e.g. 200ms); the bytes a second of network-bandwidth and the bytes before network-cut, e.g. 4096, 16KB, 1MB",
        };
        var hold = ChaosCommand.TimeOption("--hold", "how long a lasting fault stays before it is undone (default: until SIGTERM or Ctrl+C)");
        var table = new Option<string?>("--table") { Description = "the table the lock fault locks (in --database)" };
        var session = new Option<long?>("--session") { Description = "the server session id kill-session and cancel act on" };
        var json = new Option<bool>("--json") { Description = "print one JSON line as the fault starts and one as it ends (or fails)" };
        var command = new Command("fault", ToolHelp.WithFaults("Inject one fault now: an instant one returns once done; a lasting one is held for --hold or until SIGTERM/Ctrl+C, then undone.",
            Kinds.Select(k => (k, Note(k)))))
        {
            kindArgument, engine, connection, database, value, hold, table, session, json,
        };
        ConnectionInput.Validate(command, engine, connection);
        command.Validators.Add(r =>
        {
            if (r.GetValue(kindArgument) is not { } name)
            {
                return;
            }

            if (FaultCatalogue.Find(name) is not { } kind)
            {
                r.AddError($"'{name}' is not a fault; choose from {string.Join(", ", Kinds.Select(k => k.Name))}.");
                return;
            }

            if (FaultRunner.NeedsTable(kind) && (r.GetValue(table) is null || r.GetValue(database) is null))
            {
                r.AddError($"{kind.Name} needs --database (the kit database) and --table (the table to lock).");
            }

            if (FaultRunner.NeedsSession(kind) && r.GetValue(session) is null)
            {
                r.AddError($"{kind.Name} needs --session ID (the server's id of the session).");
            }

            if (r.GetValue(value) is { } text)
            {
                switch (FaultRunner.ValueOf(kind))
                {
                    case ValueKind.None:
                        r.AddError($"--value is for the faults that take one ({string.Join(", ", Kinds.Where(FaultRunner.TakesValue).Select(k => k.Name))}), not {kind.Name}.");
                        break;
                    case ValueKind.Time when ChaosCommand.ParseTime(text) is not { } time || time <= TimeSpan.Zero:
                        r.AddError($"--value: '{text}' is not a time above zero; write it like 10s, 500ms or 2m.");
                        break;
                    case ValueKind.Bytes when FaultRunner.ParseBytes(text) is not { } bytes || (kind is NetworkBandwidth && bytes < 1):
                        r.AddError($"--value: '{text}' is not a byte count{(kind is NetworkBandwidth ? " above zero" : "")}; write it like 4096, 16KB or 1MB.");
                        break;
                }
            }
            else if (FaultRunner.NeedsValue(kind))
            {
                r.AddError($"{kind.Name} needs --value: {(kind is NetworkBandwidth ? "the bytes a second it lets through, e.g. 16KB" : "the bytes after which it resets a connection, e.g. 4096")}.");
            }

            if (r.GetValue(hold) is not null && !kind.Lasting)
            {
                r.AddError($"--hold is for lasting faults; {kind.Name} is over once done.");
            }
        });
        command.SetAction(async (result, ct) =>
        {
            var kind = FaultCatalogue.Find(result.GetValue(kindArgument)!)!;
            var text = result.GetValue(value);
            var inputs = FaultRunner.ValueOf(kind) == ValueKind.Bytes
                ? new FaultInputs(Table: result.GetValue(table), Session: result.GetValue(session), Bytes: FaultRunner.ParseBytes(text!))
                : new FaultInputs(text is null ? null : ChaosCommand.ParseTime(text), result.GetValue(table), result.GetValue(session));
            return await RunAsync(ConnectionInput.Read(result, engine, connection), kind, result.GetValue(database), inputs,
                result.GetValue(hold), result.GetValue(json), ct).ConfigureAwait(false);
        });
        return command;
    }

    private static async Task<int> RunAsync(ConnectionInput input, FaultKind kind, string? database, FaultInputs inputs, TimeSpan? hold, bool json, CancellationToken ct)
    {
        var events = new FaultEvents(json, Console.Out);
        SessionFaults target;
        try
        {
            (target, _, _) = await FaultRunner.ConnectAsync(input, [kind], database, ct).ConfigureAwait(false);
        }
        catch (Refusal refusal)
        {
            await Console.Error.WriteLineAsync("testdbkit fault: " + refusal.Message).ConfigureAwait(false);
            return refusal.Code;
        }

        RunLog.Name = "testdbkit-fault";
        var where = target.WhereOf(kind);
        using var stop = new StopSignals(ct);
        var began = Stopwatch.GetTimestamp();
        FaultOutcome outcome;
        try
        {
            // Injected whole even when a signal comes meanwhile: then it is undone at once.
            outcome = await FaultRunner.InjectAsync(kind, target, inputs, ct).ConfigureAwait(false);
        }
        catch (Refusal refusal)
        {
            events.Failed(kind.Name, where, refusal.Message);
            await Console.Error.WriteLineAsync("testdbkit fault: " + refusal.Message).ConfigureAwait(false);
            return refusal.Code;
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            events.Failed(kind.Name, where, e.Message);
            await Console.Error.WriteLineAsync($"testdbkit fault: {kind.Name} failed on {where}: {e.Message}").ConfigureAwait(false);
            return ExitCodes.Problems;
        }

        events.Started(kind.Name, where, FaultRunner.ValueText(kind, inputs));
        var detail = outcome.Detail;
        try
        {
            if (outcome.Undo is { } undo)
            {
                try
                {
                    await Task.Delay(hold ?? Timeout.InfiniteTimeSpan, stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // Signalled: undo now.
                }
                finally
                {
                    await undo.DisposeAsync().ConfigureAwait(false);
                }
            }

            if (kind.Scope == FaultScope.Server)
            {
                // From the fault's start for a crash or restart; from the undo for a lasting one.
                (_, detail) = await FaultRunner.RecoveryAsync(kind, target, kind.Lasting ? Stopwatch.GetTimestamp() : began, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception e)
        {
            events.Failed(kind.Name, where, "undoing it failed: " + e.Message);
            return ExitCodes.Problems;
        }

        events.Ended(kind.Name, where, outcome.Count, detail);
        return ExitCodes.Ok;
    }
}
