using System.Globalization;
using System.Text.Json;

namespace TestDbKit.Cli;

/// <summary>
/// The lines <c>fault</c> and <c>chaos</c> print as each fault starts and ends, written and flushed at once so a
/// pipeline reading stdout learns when a fault is live. With <c>--json</c>, one JSON object a line:
/// <c>{"event":"started","fault","target","value","time"}</c>, <c>{"event":"ended","fault","target","count",
/// "detail","time"}</c> and <c>{"event":"failed","fault","target","error","time"}</c>; else a line of text.
/// </summary>
internal sealed class FaultEvents(bool json, TextWriter output)
{
    private readonly Lock _one = new();

    /// <summary>JSON as pipelines read it: '+' and other URL characters written as they are, not escaped.</summary>
    public static readonly JsonSerializerOptions JsonOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public void Started(string fault, string target, string? value) =>
        Write(new { @event = "started", fault, target, value, time = Now() },
            $"started {fault} on {target}" + (value is null ? "" : $" ({value})"));

    public void Ended(string fault, string target, int? count, string? detail) =>
        Write(new { @event = "ended", fault, target, count, detail, time = Now() },
            $"ended   {fault} on {target}" + (detail is null ? "" : ": " + detail));

    public void Failed(string fault, string target, string error) =>
        Write(new { @event = "failed", fault, target, error, time = Now() }, $"FAILED  {fault} on {target}: {error}");

    /// <summary>A time as the command line writes it: whole seconds as "10s", else milliseconds as "500ms".</summary>
    public static string Time(TimeSpan time) =>
        time.Ticks % TimeSpan.TicksPerSecond == 0
            ? string.Create(CultureInfo.InvariantCulture, $"{(long)time.TotalSeconds}s")
            : string.Create(CultureInfo.InvariantCulture, $"{time.TotalMilliseconds:0.###}ms");

    private static string Now() => DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

    private void Write(object line, string text)
    {
        lock (_one)
        {
            output.WriteLine(json ? JsonSerializer.Serialize(line, JsonOptions) : text);
            output.Flush();
        }
    }
}
