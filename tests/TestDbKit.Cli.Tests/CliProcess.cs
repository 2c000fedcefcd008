using System.Diagnostics;

namespace TestDbKit.Cli.Tests;

/// <summary>Runs the tool (or dotnet test) as a child process, as a pipeline does.</summary>
internal static class CliProcess
{
    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(params string[] args) =>
        await RunAsync(Start(args), TimeSpan.FromSeconds(120));

    /// <summary>Runs <paramref name="psi"/> to its end and returns its exit code and output. When it does not end
    /// within <paramref name="within"/>, or <paramref name="ct"/> fires, it is killed with every process it started
    /// (a `dotnet test` leaves a testhost, a `serve` its database server), and the call throws.</summary>
    /// <exception cref="TimeoutException">It ran longer than <paramref name="within"/>; the message has its output so far.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> fired.</exception>
    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(ProcessStartInfo psi, TimeSpan within, CancellationToken ct = default)
    {
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(ct);
        budget.CancelAfter(within);
        try
        {
            await process.WaitForExitAsync(budget.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            var command = string.Join(' ', psi.ArgumentList.Prepend(psi.FileName));
            ct.ThrowIfCancellationRequested();
            throw new TimeoutException(
                $"`{command}` did not exit within {within.TotalSeconds:0.#} s; it was killed with every process it started. " +
                $"Its output so far:\n{await Drained(stdout)}\n{await Drained(stderr)}");
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>What a killed process wrote; its pipes close once the whole tree is gone.</summary>
    private static async Task<string> Drained(Task<string> output)
    {
        try
        {
            return await output.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            return "(its output did not close within 10 s: a process outside its tree still holds it)";
        }
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
