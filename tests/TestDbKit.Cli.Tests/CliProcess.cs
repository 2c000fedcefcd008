using System.Diagnostics;
using TestDbKit.Tests.Common;

namespace TestDbKit.Cli.Tests;

/// <summary>Runs the tool (or dotnet test) as a child process, as a pipeline does, through the shared <see cref="ChildProcess"/>.</summary>
internal static class CliProcess
{
    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args) =>
        await RunAsync(Start(args), TimeSpan.FromSeconds(120));

    /// <summary>Runs <paramref name="psi"/> to its end (<see cref="ChildProcess.RunAsync"/>): on timeout, or when
    /// <paramref name="ct"/> fires, it is killed with every process it started, and the call throws.</summary>
    public static Task<(int Code, string Stdout, string Stderr)> RunAsync(ProcessStartInfo psi, TimeSpan within, CancellationToken ct = default) =>
        ChildProcess.RunAsync(psi, within, ct);

    /// <summary>The tool's command line; <paramref name="environment"/> entries are added to the child's environment.</summary>
    public static ProcessStartInfo Start(string[] args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = Dotnet(CliDll, args);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[name] = value;
        }

        return psi;
    }

    public static ProcessStartInfo Dotnet(string first, params string[] args) => ChildProcess.Dotnet(first, args);

    /// <summary>The tool built beside this test project: tests/TestDbKit.Cli.Tests/bin/CONFIG/net10.0/ maps to
    /// src/TestDbKit.Cli/bin/CONFIG/net10.0/.</summary>
    private static string CliDll => ChildProcess.BuiltBeside("../../src/TestDbKit.Cli", "TestDbKit.Cli.dll");
}
