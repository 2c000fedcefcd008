using System.Diagnostics;
using System.Globalization;

namespace TestDbKit.Cli.Tests;

/// <summary>A child that outlives its budget (or its test) is killed with everything it started: a hung
/// `dotnet test` would otherwise leave its testhost, and a `serve` its database server, running after the suite.</summary>
public sealed class CliProcessTests
{
    [Fact]
    public async Task A_child_that_runs_out_of_time_is_killed_with_its_children()
    {
        var pids = Path.Combine(Path.GetTempPath(), $"tdk-pids-{Guid.NewGuid():N}");
        var e = await Assert.ThrowsAsync<TimeoutException>(() => CliProcess.RunAsync(ShellWithChild(pids), TimeSpan.FromSeconds(3)));

        var (shell, child) = await PidsAsync(pids, CancellationToken.None); // premise: both were running
        Assert.Contains("did not exit within 3 s", e.Message, StringComparison.Ordinal);
        Assert.Contains("started", e.Message, StringComparison.Ordinal); // its output so far
        await AssertGoneAsync(shell);
        await AssertGoneAsync(child);
        File.Delete(pids);
    }

    [Fact]
    public async Task A_cancelled_child_is_killed_with_its_children()
    {
        var pids = Path.Combine(Path.GetTempPath(), $"tdk-pids-{Guid.NewGuid():N}");
        using var cancel = new CancellationTokenSource();
        var run = CliProcess.RunAsync(ShellWithChild(pids), TimeSpan.FromMinutes(5), cancel.Token);
        var (shell, child) = await PidsAsync(pids, CancellationToken.None);
        Assert.True(IsRunning(shell) && IsRunning(child), "premise: the shell and its child run");

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
        await AssertGoneAsync(shell);
        await AssertGoneAsync(child);
        File.Delete(pids);
    }

    /// <summary>A shell that starts a long sleep in the background, writes both process ids, and waits.</summary>
    private static ProcessStartInfo ShellWithChild(string pids)
    {
        var psi = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($"sleep 600 & echo $$ $! > '{pids}.tmp'; mv '{pids}.tmp' '{pids}'; echo started; wait");
        return psi;
    }

    private static async Task<(int Shell, int Child)> PidsAsync(string file, CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        while (!File.Exists(file))
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(30), "The shell did not write its process ids within 30 s.");
            await Task.Delay(20, ct);
        }

        var ids = (await File.ReadAllTextAsync(file, ct)).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return (int.Parse(ids[0], CultureInfo.InvariantCulture), int.Parse(ids[1], CultureInfo.InvariantCulture));
    }

    private static async Task AssertGoneAsync(int pid)
    {
        var deadline = Stopwatch.StartNew();
        while (IsRunning(pid))
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(30), $"Process {pid} still runs 30 s after its tree was killed.");
            await Task.Delay(20);
        }
    }

    /// <summary>Whether <paramref name="pid"/> runs: it exists and is no zombie waiting for its parent.</summary>
    private static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..].First() != 'Z';
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or IOException)
        {
            return false;
        }
    }
}
