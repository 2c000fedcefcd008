using System.Diagnostics;
using System.Text;

namespace TestDbKit.Servers;

/// <summary>Runs a set-up tool (initdb, mariadb-install-db) to completion and keeps the end of its output.</summary>
internal static class ProcessRunner
{
    public sealed record Result(int ExitCode, string Output);

    public static async Task<Result> RunAsync(ProcessStartInfo psi, TimeSpan timeout, CancellationToken ct)
    {
        psi.RedirectStandardOutput = true;
        psi.RedirectStandardError = true;
        psi.RedirectStandardInput = true;
        psi.UseShellExecute = false;
        var output = new StringBuilder();
        using var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            if (ct.IsCancellationRequested)
            {
                throw;
            }

            return new Result(-1, Summary(output.ToString()) + $"\n(timed out after {timeout.TotalSeconds:0} s)");
        }

        return new Result(process.ExitCode, Summary(output.ToString()));

        void Append(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (output)
            {
                output.AppendLine(line);
            }
        }
    }

    /// <summary>
    /// What shows why a server or tool failed: its error lines (servers often print a page of help after
    /// them) and then its last lines.
    /// </summary>
    public static string Summary(string text, int lines = 15)
    {
        var all = text.TrimEnd().Split('\n');
        var tail = all.Skip(Math.Max(0, all.Length - lines)).ToList();
        var errors = all.Take(all.Length - tail.Count)
            .Where(l => l.Contains("ERROR", StringComparison.Ordinal) || l.Contains("FATAL", StringComparison.Ordinal)
                || l.Contains("PANIC", StringComparison.Ordinal) || l.Contains("error:", StringComparison.Ordinal))
            .Take(10)
            .ToList();
        return errors.Count == 0 ? string.Join('\n', tail) : string.Join('\n', errors) + "\n...\n" + string.Join('\n', tail);
    }

    /// <summary>The last lines of a log file, or a note why it could not be read.</summary>
    public static string TailOfFile(string path, long fromOffset = 0, int lines = 15)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            stream.Seek(Math.Max(fromOffset, stream.Length - (64 * 1024)), SeekOrigin.Begin);

            using var reader = new StreamReader(stream);
            return Summary(reader.ReadToEnd(), lines);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return $"(log {path} could not be read: {e.Message})";
        }
    }
}
