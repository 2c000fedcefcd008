using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace TestDbKit.Tests;

/// <summary>A logger provider that keeps every message written to its loggers, and the smallest logger
/// factory around it: what a test hands the kit as <c>LoggerFactory</c> to see what the kit logs.</summary>
internal sealed class LogCollector : ILoggerProvider, ILoggerFactory
{
    private readonly ConcurrentQueue<Entry> _entries = new();

    public IReadOnlyList<Entry> Entries => [.. _entries];

    public ILogger CreateLogger(string categoryName) => new Collecting(this, categoryName);

    public void AddProvider(ILoggerProvider provider) => throw new NotSupportedException("LogCollector is its own only provider.");

    public void Dispose()
    {
    }

    /// <summary>Every message so far, one a line, for failure messages.</summary>
    public override string ToString() => string.Join("\n", _entries.Select(e => $"{e.Level} {e.Category}: {e.Message}"));

    public sealed record Entry(string Category, LogLevel Level, EventId Id, string Message, Exception? Error = null);

    private sealed class Collecting(LogCollector owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._entries.Enqueue(new Entry(category, logLevel, eventId, formatter(state, exception), exception));
    }
}
