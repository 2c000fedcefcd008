using System.CommandLine;
using TestDbKit.Cli;

// Exit codes a pipeline can act on: 0 fine, 1 problems found (doctor), 2 a server could not be started or
// reached, 64 the command line is wrong (EX_USAGE).
var root = new RootCommand("testdbkit: throwaway PostgreSQL and MySQL servers and resilience checks for test pipelines.");
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(DoctorCommand.Create());
var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors)
    {
        await Console.Error.WriteLineAsync("testdbkit: " + error.Message).ConfigureAwait(false);
    }

    await Console.Error.WriteLineAsync("Run 'testdbkit --help' (or 'testdbkit COMMAND --help') for usage.").ConfigureAwait(false);
    return 64;
}

return await parsed.InvokeAsync().ConfigureAwait(false);
