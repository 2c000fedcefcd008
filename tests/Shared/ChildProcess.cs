using System.Diagnostics;

namespace TestDbKit.Tests.Common;

/// <summary>Runs a child process (the tool, a <c>dotnet test</c>) to its end, as a pipeline does; on timeout it
/// kills the child with every process it started. The one copy for every test project (linked from tests/Shared).</summary>
public static class ChildProcess
{
    /// <summary>Runs <paramref name="psi"/> to its end and returns its exit code and output. When it does not end
    /// within <paramref name="within"/>, or <paramref name="ct"/> fires, it is killed with every process it started
    /// (a `dotnet test` leaves a testhost, a `serve` its database server), and the call throws.</summary>
    /// <exception cref="TimeoutException">It ran longer than <paramref name="within"/>; the message has its output so far.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> fired.</exception>
    public static async Task<(int Code, string Stdout, string Stderr)> RunAsync(ProcessStartInfo psi, TimeSpan within, CancellationToken ct = default)
    {
        var command = string.Join(' ', psi.ArgumentList.Prepend(psi.FileName));
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start `{command}`");
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
            ct.ThrowIfCancellationRequested();
            throw new TimeoutException(
                $"`{command}` did not exit within {within.TotalSeconds:0.#} s; it was killed with every process it started. " +
                $"Its output so far:\n{await Drained(stdout)}\n{await Drained(stderr)}");
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>A <c>dotnet</c> command line with its output redirected.</summary>
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

    /// <summary>An assembly built in the same configuration as this test project: <paramref name="projectDir"/> is
    /// relative to this project's directory (tests/PROJECT/bin/CONFIG/net10.0/ maps to PROJECTDIR/bin/CONFIG/net10.0/).</summary>
    public static string BuiltBeside(string projectDir, string dll)
    {
        var baseDir = AppContext.BaseDirectory;
        var configuration = new DirectoryInfo(Path.TrimEndingDirectorySeparator(baseDir)).Parent!.Name;
        return Path.GetFullPath(Path.Combine(baseDir, "../../..", projectDir, "bin", configuration, "net10.0", dll));
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
}
