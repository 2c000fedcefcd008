using System.CommandLine;
using TestDbKit.Cli;
using TestDbKit.Diagnostics;

// Exit codes a pipeline can act on: see ExitCodes (0 fine, 1 problems found or a fault failed, 2 a server could not
// be started or reached, 3 a fault was refused, 64 malformed input).
var root = ToolHelp.Root(
    "testdbkit: throwaway PostgreSQL and MySQL servers, faults on purpose and resilience checks for test pipelines in any language.",
    ServeCommand.Create(), FaultCommand.Create(), ChaosCommand.Create(), DoctorCommand.Create(), UndoGuard.Create());
var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors)
    {
        await Console.Error.WriteLineAsync("testdbkit: " + error.Message).ConfigureAwait(false);
    }

    await Console.Error.WriteLineAsync("Run 'testdbkit --help' (or 'testdbkit COMMAND --help') for usage.").ConfigureAwait(false);
    return ExitCodes.Usage;
}

// Only runs that inject faults are worth a report in TESTDBKIT_REPORT_DIR; serve and doctor inject nothing.
RunLog.WriteAtExit = parsed.CommandResult.Command.Name is "chaos" or "fault";
return await parsed.InvokeAsync().ConfigureAwait(false);
