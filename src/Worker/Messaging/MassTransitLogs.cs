using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Worker.Messaging;

/// <summary>
/// The worker's loggers, with MassTransit's entries left out where the worker tells the same in one line of its own:
/// a refusal by the broker (a permission, a certificate; <see cref="BrokerRefusals"/>, once per interval), which
/// MassTransit logs with its stack trace at each retry, about forty a minute; and a command that cannot be read,
/// which the worker answers with the API's 400 and logs as one warning (CommandAnswers), and MassTransit as an
/// R-FAULT with a 40-line stack trace. It stands in for the host's logger factory, so that it holds wherever
/// MassTransit takes its loggers from.
/// </summary>
public sealed class MassTransitLogs(ILoggerFactory loggers) : ILoggerFactory
{
    /// <summary>
    /// Until the worker has started, MassTransit's entries with an exception are left out altogether: a refusal at
    /// start ends it in one line, and the faults that follow it on the same channel (a disposed channel, say) would
    /// only bury that line in stack traces. What else keeps an endpoint from starting, BrokerRefusals tells in one
    /// line.
    /// </summary>
    public static volatile bool HostStarted;

    public static void Use(IServiceCollection services) =>
        services.Replace(ServiceDescriptor.Singleton<ILoggerFactory>(provider =>
            new MassTransitLogs(ActivatorUtilities.CreateInstance<LoggerFactory>(provider))));

    public ILogger CreateLogger(string categoryName)
    {
        var logger = loggers.CreateLogger(categoryName);
        return categoryName.StartsWith("MassTransit", StringComparison.Ordinal) ? new Quiet(logger) : logger;
    }

    public void AddProvider(ILoggerProvider provider) => loggers.AddProvider(provider);
    public void Dispose() => loggers.Dispose();

    /// <summary>Whether the worker tells of this exception itself.</summary>
    public static bool ToldByTheWorker(Exception exception) =>
        BrokerCheck.Refusal(exception) is not null || BrokerConnection.IsTlsRefusal(exception)
        || PublishFailedResultFilter.IsUnreadable(exception);

    sealed class Quiet(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);
        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter)
        {
            if (exception is not null && (!HostStarted || ToldByTheWorker(exception))) return;
            inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}
