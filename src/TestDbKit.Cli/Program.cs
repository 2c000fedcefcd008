using System.CommandLine;
using TestDbKit.Cli;

var root = new RootCommand("testdbkit: throwaway PostgreSQL and MySQL servers for test pipelines.");
root.Subcommands.Add(ServeCommand.Create());
return await root.Parse(args).InvokeAsync().ConfigureAwait(false);
