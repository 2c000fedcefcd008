using Microsoft.Extensions.Logging;

namespace TestDbKit.Diagnostics;

/// <summary>The kit's log messages, compiled once (no boxing or formatting when logging is off).</summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Started {Server} in {Milliseconds} ms")]
    public static partial void ServerStarted(ILogger logger, string server, long milliseconds);

    [LoggerMessage(2, LogLevel.Debug, "Port {Port} was taken before the server bound it; trying another")]
    public static partial void PortTaken(ILogger logger, int port);

    [LoggerMessage(3, LogLevel.Warning, "{Server} did not stop within 10 s; killing it")]
    public static partial void StopTimedOut(ILogger logger, string server);

    [LoggerMessage(4, LogLevel.Warning, "Could not delete {Folder} ({Error}); the watchdog will")]
    public static partial void DeleteFailed(ILogger logger, string folder, string error);

    [LoggerMessage(5, LogLevel.Information, "Removed {Folder}, left behind by process {Pid}")]
    public static partial void SweptStale(ILogger logger, string folder, int pid);

    [LoggerMessage(6, LogLevel.Debug, "Could not sweep {Folder}: {Error}")]
    public static partial void SweepFailed(ILogger logger, string folder, string error);

    [LoggerMessage(7, LogLevel.Warning, "Change tracking could not be installed in {Database} ({Error}); resets use Respawn")]
    public static partial void TrackingUnavailable(ILogger logger, string database, string error);

    [LoggerMessage(8, LogLevel.Warning, "Resetting {Database} failed ({Error}); it is dropped and replaced")]
    public static partial void ResetFailed(ILogger logger, string database, string error);

    [LoggerMessage(9, LogLevel.Warning, "Dropping {Database} failed: {Error}")]
    public static partial void DropFailed(ILogger logger, string database, string error);

    [LoggerMessage(10, LogLevel.Information, "Janitor dropped {Database}, left behind by run {RunId} at {Created:u}")]
    public static partial void JanitorDropped(ILogger logger, string database, string runId, DateTime created);

    [LoggerMessage(11, LogLevel.Warning, "{Server} would not start after the crash the kit caused ({Repair}); starting it again")]
    public static partial void RepairedAfterCrash(ILogger logger, string server, string repair);

    [LoggerMessage(43, LogLevel.Warning, "The initialised data folders in {Folder} could not be used ({Error}); initialising this server's data folder the slow way")]
    public static partial void PristineUnusable(ILogger logger, string folder, string error);

    [LoggerMessage(50, LogLevel.Information, "Reuse (TESTDBKIT_REUSE) is ignored: {Reason}")]
    public static partial void ReuseIgnored(ILogger logger, string reason);

    [LoggerMessage(51, LogLevel.Information, "Reusing {Server}, kept by an earlier run (state in {Folder})")]
    public static partial void ReusedServer(ILogger logger, string server, string folder);

    [LoggerMessage(52, LogLevel.Warning, "The reuse state in {Folder} is not used ({Reason}); this run starts a server of its own that is not kept")]
    public static partial void ReuseStateRefused(ILogger logger, string folder, string reason);

    [LoggerMessage(53, LogLevel.Information, "The kept server in {Folder} is stale ({Reason}); starting a fresh one to keep")]
    public static partial void ReuseStateStale(ILogger logger, string folder, string reason);

    [LoggerMessage(54, LogLevel.Information, "Keeping {Server} for later runs until {Idle} without a run (state in {Folder})")]
    public static partial void ReuseKept(ILogger logger, string server, TimeSpan idle, string folder);

    [LoggerMessage(55, LogLevel.Information, "Dropped {Database} on the kept server: its run {RunId} is over")]
    public static partial void ReuseDroppedOldRun(ILogger logger, string database, string runId);

    [LoggerMessage(56, LogLevel.Information, "Reusing template {Template} (schema code hash {Hash})")]
    public static partial void ReusedTemplate(ILogger logger, string template, string hash);

    [LoggerMessage(57, LogLevel.Information, "The template is not kept for later runs: {Reason}")]
    public static partial void TemplateNotKept(ILogger logger, string reason);

    [LoggerMessage(58, LogLevel.Debug, "Dropped template {Template} (hash {Hash}): not among the most recently used")]
    public static partial void DroppedOldTemplate(ILogger logger, string template, string hash);

    [LoggerMessage(90, LogLevel.Debug, "Holding this run's mark ({Mark}) on {Server}: other runs' janitors leave its databases alone while it runs")]
    public static partial void RunMarkTaken(ILogger logger, string mark, string server);

    [LoggerMessage(91, LogLevel.Warning, "This run lost its mark on {Server} and could not take it again ({Error}); it keeps trying every {Seconds} s. Until then another run's janitor may take this run's databases for a dead run's.")]
    public static partial void RunMarkLost(ILogger logger, string server, string error, int seconds);

    [LoggerMessage(92, LogLevel.Information, "Janitor dropped {Database}: its run {RunId} holds no mark on the server (it ended or was killed)")]
    public static partial void JanitorDroppedDeadRun(ILogger logger, string database, string runId);

    [LoggerMessage(93, LogLevel.Debug, "Could not ask the server which runs are alive ({Error}); only databases older than {Age} are dropped")]
    public static partial void RunMarksUnknown(ILogger logger, string error, TimeSpan age);

    [LoggerMessage(94, LogLevel.Information, "Janitor kept {Count} databases of runs that held no mark on {Server}: the server has been up only {Uptime}, less than a live run may need to take its mark again after a restart; a later run's janitor drops them if their runs are dead")]
    public static partial void RunMarksUnsure(ILogger logger, string server, TimeSpan uptime, int count);

    [LoggerMessage(95, LogLevel.Information, "The kept template is not used or kept by this run: {Reason}")]
    public static partial void KeptTemplateLockBusy(ILogger logger, string reason);

    [LoggerMessage(96, LogLevel.Debug, "Run {RunId} holds no mark on {Server}: its databases are dropped if it still holds none in {Grace}")]
    public static partial void RunMarkMissing(ILogger logger, string runId, string server, TimeSpan grace);

    [LoggerMessage(97, LogLevel.Debug, "Janitor's second look at the marks of {Count} runs on {Server}, up {Uptime}")]
    public static partial void RunMarksSecondLook(ILogger logger, int count, string server, TimeSpan uptime);

    [LoggerMessage(110, LogLevel.Information, "The image {Image} is not on this machine yet, or has no entrypoint: its server's data stays on the container's disk this run, where every fsync waits for the disk (MariaDB's resets are then several times slower); once the image is here, the data goes to a tmpfs")]
    public static partial void DockerDataOnDisk(ILogger logger, string image);
}

/// <summary>
/// The kit's logger: what the user's <see cref="ILoggerFactory"/> gets (nothing without one), and, for
/// information and warnings, the output of the test the kit is working for (<see cref="Sessions.TestOutput.Current"/>),
/// so that a server start, a failed reset or a dropped database shows beside the test that saw it.
/// </summary>
internal sealed class KitLogger(ILogger inner) : ILogger
{
    /// <summary>The user's logger alone, without the copy to the test's output: for chatty libraries.</summary>
    public ILogger Inner => inner;

    /// <summary>The kit's logger over <paramref name="factory"/>'s <paramref name="category"/>, or over nothing.</summary>
    public static ILogger For(ILoggerFactory? factory, string category) =>
        new KitLogger(factory?.CreateLogger(category) ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);

    /// <inheritdoc />
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => inner.BeginScope(state);

    /// <inheritdoc />
    public bool IsEnabled(LogLevel logLevel) =>
        inner.IsEnabled(logLevel) || (logLevel >= LogLevel.Information && logLevel != LogLevel.None && Sessions.TestOutput.Current is not null);

    /// <inheritdoc />
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        if (inner.IsEnabled(logLevel))
        {
            inner.Log(logLevel, eventId, state, exception, formatter);
        }

        if (logLevel >= LogLevel.Information && logLevel != LogLevel.None && Sessions.TestOutput.Current is { } output)
        {
            Sessions.TestOutput.Write(output, $"{logLevel}: {formatter(state, exception)}");
        }
    }
}

/// <summary>
/// A logger for a library that may log a secret the kit gave it (Testcontainers logs each command it runs in a
/// container, and MySQL's readiness probe passes the administrator's password on the command line): every
/// message reaches <paramref name="inner"/> with <paramref name="secret"/> replaced.
/// </summary>
internal sealed class RedactingLogger(ILogger inner, string secret) : ILogger
{
    /// <inheritdoc />
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => inner.BeginScope(state);

    /// <inheritdoc />
    public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

    /// <inheritdoc />
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        ArgumentNullException.ThrowIfNull(formatter);
        if (inner.IsEnabled(logLevel))
        {
            // The exception's text is part of what the formatter gives most loggers; it is redacted with the message.
            var message = Secrets.Redact(formatter(state, exception), secret);
            inner.Log(logLevel, eventId, message, exception is null ? null : new RedactedException(Secrets.Redact(exception.ToString(), secret)), static (m, _) => m);
        }
    }

    private sealed class RedactedException(string text) : Exception(text)
    {
        public override string ToString() => Message;
    }
}
