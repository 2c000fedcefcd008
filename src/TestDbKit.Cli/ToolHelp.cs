using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using TestDbKit.Faults;

namespace TestDbKit.Cli;

/// <summary>
/// The tool's root command and its help. The root is named <c>testdbkit</c> (the tool's command name), not after
/// the assembly, so usage lines read as users type them; the list of faults shows in the help of the commands
/// that inject them (<c>fault</c>, <c>chaos</c>), not in the root's list of commands.
/// </summary>
internal static class ToolHelp
{
    /// <summary>The tool's name as installed (<c>ToolCommandName</c>).</summary>
    public const string Name = "testdbkit";

    public static Command Root(string description, params Command[] commands)
    {
        var root = new Command(Name, description);
        var help = new HelpOption { Recursive = true };
        help.Action = new WithFaultList((HelpAction)help.Action!);
        root.Options.Add(help);
        root.Options.Add(new VersionOption());
        foreach (var command in commands)
        {
            root.Subcommands.Add(command);
        }

        return root;
    }

    /// <summary>Commands whose help ends with the fault list, and which kinds each lists.</summary>
    private static readonly Dictionary<string, Func<IEnumerable<(FaultKind Kind, string? Note)>>> Lists = new(StringComparer.Ordinal)
    {
        ["chaos"] = () => ChaosCommand.Offered.Select(k => (k, ChaosCommand.Note(k))),
        ["fault"] = () => FaultCommand.Kinds.Select(k => (k, FaultCommand.Note(k))),
    };

    private sealed class WithFaultList(HelpAction inner) : SynchronousCommandLineAction
    {
        /// <summary>As the help it wraps: asking for help is never an error, whatever else is missing.</summary>
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            var code = inner.Invoke(parseResult);
            if (Lists.TryGetValue(parseResult.CommandResult.Command.Name, out var kinds))
            {
                var output = parseResult.InvocationConfiguration.Output;
                output.WriteLine("Faults:");
                foreach (var (kind, note) in kinds())
                {
                    output.WriteLine($"  {kind.Name,-20} {kind.Summary}{(note is null ? "" : $" ({note})")}");
                }

                output.WriteLine();
            }

            return code;
        }
    }
}
