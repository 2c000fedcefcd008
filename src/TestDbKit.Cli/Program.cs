using System.CommandLine;
using TestDbKit.Cli;
using TestDbKit.Diagnostics;

// Exit codes a pipeline can act on: see ExitCodes (0 fine, 1 problems found, 2 a server could not be started
// or reached, 3 chaos refused the server, 64 the command line is wrong).
var root = new RootCommand("testdbkit: throwaway PostgreSQL and MySQL servers, chaos and resilience checks for test pipelines.");
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(ChaosCommand.Create());
root.Subcommands.Add(DoctorCommand.Create());
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

// Only a chaos run is worth a report in TESTDBKIT_REPORT_DIR; serve and doctor inject nothing.
RunLog.WriteAtExit = parsed.CommandResult.Command.Name == "chaos";
return await parsed.InvokeAsync().ConfigureAwait(false);
