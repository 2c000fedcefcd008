using System.Diagnostics;
using System.Globalization;

namespace TestDbKit.Cli;

/// <summary>
/// Progress on stderr while something slow runs (a server starting): on a terminal one live line with the
/// time so far, redrawn in place; otherwise (a CI log) a line when it starts and one when it ends. Never on
/// stdout, which pipelines parse.
/// </summary>
internal sealed class Progress : IAsyncDisposable
{
    private static readonly char[] Spinner = ['|', '/', '-', '\\'];

    private readonly string _what;
    private readonly TextWriter _out;
    private readonly bool _live;
    private readonly long _started = Stopwatch.GetTimestamp();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _ticker;
    private string? _outcome;

    private Progress(string what, TextWriter output, bool live)
    {
        _what = what;
        _out = output;
        _live = live;
        if (live)
        {
            _ticker = Task.Run(() => TickAsync(_stop.Token));
        }
        else
        {
            _out.WriteLine(what + " ...");
            _ticker = Task.CompletedTask;
        }
    }

    /// <summary>Starts showing <paramref name="what"/>; live when stderr is a terminal and TERM is not dumb.</summary>
    public static Progress Start(string what) =>
        new(what, Console.Error, !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("TERM") is not "dumb");

    /// <summary>What to print when it ends (default: "done").</summary>
    public void Finish(string outcome) => _outcome = outcome;

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _ticker.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }

        var line = string.Create(CultureInfo.InvariantCulture, $"{_what}: {_outcome ?? "failed"} ({Stopwatch.GetElapsedTime(_started).TotalSeconds:0.0} s)");
        await _out.WriteLineAsync(_live ? "\r\u001b[2K" + line : line).ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task TickAsync(CancellationToken ct)
    {
        for (var i = 0; !ct.IsCancellationRequested; i++)
        {
            var elapsed = Stopwatch.GetElapsedTime(_started).TotalSeconds;
            await _out.WriteAsync(string.Create(CultureInfo.InvariantCulture, $"\r\u001b[2K{Spinner[i % Spinner.Length]} {_what} {elapsed:0.0} s")).ConfigureAwait(false);
            await Task.Delay(100, ct).ConfigureAwait(false);
        }
    }
}
