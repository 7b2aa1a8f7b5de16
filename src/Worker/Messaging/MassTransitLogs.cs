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
public sealed class MassTransitLogs(ILoggerFactory loggers, IServiceProvider? services = null) : ILoggerFactory
{
    // Resolved at the first entry, long after this factory exists: DependencyOutages logs through it.
    Worker.Health.DependencyOutages? _outages;
    /// <summary>
    /// Until the worker has started, MassTransit's entries with an exception are left out altogether: a refusal at
    /// start ends it in one line, and the faults that follow it on the same channel (a disposed channel, say) would
    /// only bury that line in stack traces. What else keeps an endpoint from starting, BrokerRefusals tells in one
    /// line.
    /// </summary>
    public static volatile bool HostStarted;

    public static void Use(IServiceCollection services) =>
        services.Replace(ServiceDescriptor.Singleton<ILoggerFactory>(provider =>
            new MassTransitLogs(ActivatorUtilities.CreateInstance<LoggerFactory>(provider), provider)));

    public ILogger CreateLogger(string categoryName)
    {
        var logger = loggers.CreateLogger(categoryName);
        return categoryName.StartsWith("MassTransit", StringComparison.Ordinal) ? new Quiet(logger, this) : logger;
    }

    public void AddProvider(ILoggerProvider provider) => loggers.AddProvider(provider);
    public void Dispose() => loggers.Dispose();

    /// <summary>Whether the worker tells of this exception itself.</summary>
    public static bool ToldByTheWorker(Exception exception) =>
        BrokerCheck.Refusal(exception) is not null || BrokerConnection.IsTlsRefusal(exception)
        || PublishFailedResultFilter.IsUnreadable(exception) || IsConnectionFault(exception);

    /// <summary>
    /// A connection that failed, was refused, was cut or timed out: MassTransit logs each attempt to connect again with
    /// its stack trace (about one every few seconds), and each command or publish it cut short. The outage is told by
    /// DependencyOutages, in a line when it starts, one a minute while it lasts and one when it ends. This decides
    /// only what is logged, never what becomes of a command.
    /// </summary>
    public static bool IsConnectionFault(Exception exception) =>
        exception is System.Net.Sockets.SocketException or IOException or TimeoutException or OperationCanceledException
            or RabbitMQ.Client.Exceptions.BrokerUnreachableException or RabbitMQ.Client.Exceptions.ConnectFailureException
            or RabbitMQ.Client.Exceptions.AlreadyClosedException or RabbitMQ.Client.Exceptions.OperationInterruptedException
            or MassTransit.RabbitMqConnectionException or MassTransit.ConnectionException
            // A consumer cut short when its connection went: the command comes again, unanswered.
            or MassTransit.ConsumerCanceledException
        || exception is AggregateException aggregate && aggregate.InnerExceptions.Any(IsConnectionFault)
        || exception.InnerException is { } inner && IsConnectionFault(inner);

    /// <summary>While a dependency is away, what MassTransit says of it is the outage again, told already.</summary>
    bool DuringAnOutage()
    {
        try
        {
            _outages ??= services?.GetService<Worker.Health.DependencyOutages>();
        }
        catch (ObjectDisposedException)
        {
            // MassTransit logs as the host is disposed, when no outage is told any more.
            return false;
        }
        return _outages?.AnyAway == true;
    }

    sealed class Quiet(ILogger inner, MassTransitLogs owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);
        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter)
        {
            if (exception is not null && (!HostStarted || ToldByTheWorker(exception))) return;
            if (logLevel >= LogLevel.Warning && owner.DuringAnOutage()) return;
            inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}
