using System.Collections.Concurrent;
using MassTransit;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Worker.Messaging;

/// <summary>
/// What the broker refuses the worker once it runs: a permission taken away (ACCESS_REFUSED on a queue it consumes or an
/// exchange it publishes to), or a certificate that no longer verifies. MassTransit retries both for ever, as it
/// should (an operator may grant the permission back), but each retry is not news: readiness answers 503 with the
/// broker's own words for as long as it lasts, and the log says it once per <see cref="LogInterval"/>.
/// At start the same refusals end the start instead (<see cref="BrokerStartCheck"/>, and the bus start itself).
/// </summary>
public sealed class BrokerRefusals(BrokerConnection broker, TimeProvider clock, IHostApplicationLifetime lifetime,
    ILogger<BrokerRefusals> logger)
    : IReceiveEndpointObserver, IHealthCheck
{
    public static readonly TimeSpan LogInterval = TimeSpan.FromSeconds(30);

    /// <summary>How long a refused publish keeps readiness down after it: nothing else says when it would pass.</summary>
    static readonly TimeSpan PublishRefusalHolds = TimeSpan.FromSeconds(30);

    readonly ConcurrentDictionary<Uri, string> _endpoints = new();
    (string Reason, DateTimeOffset At)? _publish;
    DateTimeOffset _loggedAt = DateTimeOffset.MinValue;

    /// <summary>The refusal in an exception, if it is one: a permission or a certificate.</summary>
    public string? Explain(Exception exception) =>
        BrokerCheck.Refusal(exception) is { } refusal ? $"RabbitMQ refused: {refusal}"
        : BrokerConnection.IsTlsRefusal(exception) ? $"RabbitMQ was refused over TLS: {broker.LastRefusal ?? exception.GetBaseException().Message}"
        : null;

    /// <summary>A result event the broker refused to take.</summary>
    public void PublishRefused(string reason)
    {
        _publish = (reason, clock.GetUtcNow());
        Log(reason);
    }

    readonly CancellationTokenRegistration _started = lifetime.ApplicationStarted.Register(() => MassTransitLogs.HostStarted = true);

    public Task Faulted(ReceiveEndpointFaulted faulted)
    {
        if (faulted.Exception is null) return Task.CompletedTask;
        if (Explain(faulted.Exception) is not { } reason)
        {
            // MassTransit's own entry for it is left out until the start is done (MassTransitLogs): said here, once
            // per fault, without its stack trace.
            // A channel disposed under the endpoint follows from another fault of that channel, told by itself.
            if (!lifetime.ApplicationStarted.IsCancellationRequested && StartupFailure.Recorded is null
                && !faulted.Exception.ToString().Contains(nameof(ObjectDisposedException), StringComparison.Ordinal))
                logger.LogWarning("Receive endpoint {Address} did not start ({Reason}); MassTransit tries it again",
                    faulted.InputAddress, faulted.Exception.GetBaseException().Message);
            return Task.CompletedTask;
        }
        if (!lifetime.ApplicationStarted.IsCancellationRequested)
        {
            // MassTransit would wait for the endpoint for ever; the start ends here, told in one line by Program.
            StartupFailure.Record(BrokerCheck.Refusal(faulted.Exception) is not null
                ? new StartupFailure($"{reason}; grant the permissions docs/security.md lists to the user of " +
                    "ConnectionStrings__RabbitMq", StartupFailure.NoPermission, faulted.Exception)
                : new StartupFailure($"{reason}; check {BrokerConnection.TlsSection}__CaFile and " +
                    $"{BrokerConnection.TlsSection}__ServerName", StartupFailure.TlsRefused, faulted.Exception));
            lifetime.StopApplication();
            return Task.CompletedTask;
        }
        _endpoints[faulted.InputAddress] = reason;
        Log(reason);
        return Task.CompletedTask;
    }

    public Task Ready(ReceiveEndpointReady ready)
    {
        _endpoints.TryRemove(ready.InputAddress, out _);
        return Task.CompletedTask;
    }

    public Task Completed(ReceiveEndpointCompleted completed) => Task.CompletedTask;
    public Task Stopping(ReceiveEndpointStopping stopping) => Task.CompletedTask;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken)
    {
        var refused = _endpoints.Values.Distinct().ToList();
        if (_publish is { } publish && clock.GetUtcNow() - publish.At < PublishRefusalHolds) refused.Add(publish.Reason);
        return Task.FromResult(refused.Count == 0
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy(string.Join("; ", refused.Distinct())));
    }

    void Log(string reason)
    {
        var now = clock.GetUtcNow();
        lock (_endpoints)
        {
            if (now - _loggedAt < LogInterval) return;
            _loggedAt = now;
        }
        logger.LogError("{Reason}; not ready until it is granted again (said once per {Interval})", reason, LogInterval);
    }
}
