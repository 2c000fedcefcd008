using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using TestDbKit.Faults;

namespace TestDbKit.Cli;

/// <summary>
/// The tool's root command and its help. The root is named <c>testdbkit</c> (the tool's command name), not after
/// the assembly, so usage lines read as users type them. A command's description may go on after its first line
/// (<c>fault</c> and <c>chaos</c> list their faults there): its own help shows all of it, the root's list of
/// commands only the first line.
/// </summary>
internal static class ToolHelp
{
    /// <summary>The tool's name as installed (<c>ToolCommandName</c>).</summary>
    public const string Name = "testdbkit";

    public static Command Root(string description, params Command[] commands)
    {
        var root = new Command(Name, description);
        var help = new HelpOption { Recursive = true };
        help.Action = new FirstLinesAtRoot((HelpAction)help.Action!);
        root.Options.Add(help);
        root.Options.Add(new VersionOption());
        foreach (var command in commands)
        {
            root.Subcommands.Add(command);
        }

        return root;
    }

    /// <summary>A description, then a list of faults: each kind's name, summary and what the command says about it.</summary>
    public static string WithFaults(string description, IEnumerable<(FaultKind Kind, string? Note)> kinds) =>
        description + " Faults:\n" + string.Join("\n", kinds.Select(k => $"  {k.Kind.Name,-10} {k.Kind.Summary}{(k.Note is null ? "" : $" ({k.Note})")}"));

    private sealed class FirstLinesAtRoot(HelpAction inner) : SynchronousCommandLineAction
    {
        /// <summary>As the help it wraps: asking for help is never an error, whatever else is missing.</summary>
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            var command = parseResult.CommandResult.Command;
            var full = command.Subcommands.ToDictionary(c => c, c => c.Description);
            try
            {
                foreach (var sub in command.Subcommands)
                {
                    sub.Description = sub.Description?.Split('\n')[0].Replace(" Faults:", "", StringComparison.Ordinal);
                }

                return inner.Invoke(parseResult);
            }
            finally
            {
                foreach (var (sub, description) in full)
                {
                    sub.Description = description;
                }
            }
        }
    }
}
