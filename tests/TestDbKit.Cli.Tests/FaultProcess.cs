using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;

namespace TestDbKit.Cli.Tests;

/// <summary>A <c>testdbkit fault ... --json</c> (or <c>chaos --json</c>) child process whose stdout lines are read
/// as they come, to act while a fault is in effect.</summary>
internal sealed class FaultProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly Task<string> _stderr;
    private readonly Task _reader;

    private FaultProcess(Process process)
    {
        _process = process;
        _stderr = process.StandardError.ReadToEndAsync();
        _reader = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                await _lines.Writer.WriteAsync(line);
            }

            _lines.Writer.Complete();
        });
    }

    public int Pid => _process.Id;

    /// <summary>The <c>started</c> line, once a caller read it and kept it here.</summary>
    public JsonElement? Started { get; set; }

    public static FaultProcess Start(params string[] args) => new(Process.Start(CliProcess.Start(args))!);

    /// <summary>As <see cref="Start(string[])"/>, with <paramref name="environment"/> added to the child's.</summary>
    public static FaultProcess Start(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        new(Process.Start(CliProcess.Start(args, environment))!);

    /// <summary>The next stdout line as JSON; fails with the process's stderr when it ends first or takes too long.</summary>
    public async Task<JsonElement> NextAsync(TimeSpan? within = null)
    {
        using var timeout = new CancellationTokenSource(within ?? TimeSpan.FromSeconds(60));
        try
        {
            var line = await _lines.Reader.ReadAsync(timeout.Token);
            using var json = JsonDocument.Parse(line);
            return json.RootElement.Clone();
        }
        catch (Exception e) when (e is ChannelClosedException or OperationCanceledException)
        {
            throw new InvalidOperationException($"no further line from {string.Join(' ', _process.StartInfo.ArgumentList)} ({e.GetType().Name}); stderr:\n{await StderrSoFarAsync()}");
        }
    }

    /// <summary>Sends <paramref name="signal"/> (TERM, INT, KILL).</summary>
    public void Signal(string signal) =>
        Process.Start("kill", [$"-{signal}", _process.Id.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();

    /// <summary>Ends a held fault as a pipeline does (SIGTERM): the next line must say it ended, and the process
    /// exit 0; returns that line.</summary>
    public async Task<JsonElement> StopAsync()
    {
        Signal("TERM");
        var ended = await NextAsync();
        Assert.Equal("ended", ended.GetProperty("event").GetString());
        var (code, stderr) = await ExitAsync();
        Assert.True(code == 0, $"exit {code} after SIGTERM: {stderr}");
        return ended;
    }

    /// <summary>Waits for the end; returns the exit code and stderr.</summary>
    public async Task<(int Code, string Stderr)> ExitAsync(TimeSpan? within = null)
    {
        await _process.WaitForExitAsync(new CancellationTokenSource(within ?? TimeSpan.FromSeconds(60)).Token);
        await _reader;
        return (_process.ExitCode, await _stderr);
    }

    /// <summary>The lines not read yet, once the process ended.</summary>
    public async Task<List<string>> RestAsync()
    {
        await _reader;
        var rest = new List<string>();
        while (_lines.Reader.TryRead(out var line))
        {
            rest.Add(line);
        }

        return rest;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private async Task<string> StderrSoFarAsync() =>
        _process.HasExited ? await _stderr : "(still running)";
}
