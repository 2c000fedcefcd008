using System.Diagnostics;

namespace TestDbKit.Cli.Tests;

/// <summary>Runs the tool (or dotnet test) as a child process, as a pipeline does.</summary>
internal static class CliProcess
{
    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args) =>
        await RunAsync(Start(args), TimeSpan.FromSeconds(120));

    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(ProcessStartInfo psi, TimeSpan within)
    {
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync(new CancellationTokenSource(within).Token);
        return (process.ExitCode, await stdout, await stderr);
    }

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

    public static ProcessStartInfo Dotnet(string first, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add(first);
        foreach (var arg in args)
        {
            psi.ArgumentList.Add(arg);
        }

        return psi;
    }

    /// <summary>The tool built beside this test project: tests/TestDbKit.Cli.Tests/bin/CONFIG/net10.0/ maps to
    /// src/TestDbKit.Cli/bin/CONFIG/net10.0/.</summary>
    private static string CliDll
    {
        get
        {
            var baseDir = AppContext.BaseDirectory;
            var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(baseDir)).Parent!.Name;
            return Path.GetFullPath(Path.Combine(baseDir, "../../../../..", "src/TestDbKit.Cli/bin", configuration, "net10.0/TestDbKit.Cli.dll"));
        }
    }
}
