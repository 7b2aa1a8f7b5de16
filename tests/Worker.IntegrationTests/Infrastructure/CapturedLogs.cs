using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Worker.IntegrationTests.Infrastructure;

/// <summary>One log entry as the worker wrote it: category, level, rendered message, structured values, exception.</summary>
public sealed record CapturedLog(string Category, LogLevel Level, string Message,
    IReadOnlyDictionary<string, object?> Values, Exception? Exception);

/// <summary>Keeps what the in-process worker logs, for tests of its log lines.</summary>
public sealed class CapturedLogs : ILoggerProvider
{
    readonly ConcurrentQueue<CapturedLog> _entries = new();

    public IReadOnlyList<CapturedLog> Entries => _entries.ToList();

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

    public void Dispose() { }

    sealed class Logger(string category, ConcurrentQueue<CapturedLog> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter)
        {
            var values = state is IEnumerable<KeyValuePair<string, object?>> pairs
                ? pairs.ToDictionary(p => p.Key, p => p.Value)
                : new Dictionary<string, object?>();
            entries.Enqueue(new CapturedLog(category, logLevel, formatter(state, exception), values, exception));
        }
    }
}
