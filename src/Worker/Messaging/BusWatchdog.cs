using MassTransit;
using Microsoft.Extensions.Options;

namespace Worker.Messaging;

/// <summary>
/// Gets the worker consuming again when MassTransit does not. It reconnects by itself after most broker outages; but
/// when the connection dies while commands are in flight, MassTransit 8.4 can leave a receive endpoint down for good,
/// or report it healthy while the broker lists no consumer on its queue, and such an endpoint cannot be restarted
/// on the same bus (it still counts as started). So the watchdog checks three things:
/// <list type="bullet">
/// <item>the bus health: not healthy for <see cref="MessagingOptions.RestartUnhealthyBusAfter"/>;</item>
/// <item>the queues: commands waiting in a command queue while this worker has none in hand and takes none (or
/// the queue has no consumer at all) for the same time;</item>
/// <item>the commands in hand: one held longer than <see cref="MessagingOptions.StuckCommandAfter"/> is stuck.</item>
/// </list>
/// On any of them it asks for a fresh start: the host stops (the bus closes its connection, so the broker delivers
/// again what was in flight, to be answered from the inbox, in order) and <see cref="FreshStarts"/> builds a new
/// one in the same process. Only when fresh starts keep being needed does the process exit with
/// <see cref="ExitCode"/>, for its supervisor (docker compose, systemd, Kubernetes, scripts/run.sh).
/// </summary>
public sealed class BusWatchdog(IBusControl bus, ConsumptionMonitor consumption, QueueProbe queues,
    IOptions<MessagingOptions> options, FreshStarts freshStarts, IHostApplicationLifetime lifetime, ILogger<BusWatchdog> logger)
    : BackgroundService
{
    /// <summary>EX_TEMPFAIL: a temporary failure, to be retried by starting the process again.</summary>
    public const int ExitCode = 75;

    readonly Dictionary<Uri, (long Delivered, DateTime? StalledSince)> _endpoints = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var limit = options.Value.RestartUnhealthyBusAfter;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(Math.Clamp(limit.TotalSeconds / 4, 0.5, 5)));
        DateTime? unhealthySince = null;
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var health = bus.CheckHealth();
            if (health.Status == BusHealthStatus.Healthy)
            {
                if (unhealthySince is not null)
                    logger.LogInformation("The bus is healthy again after {Seconds:F1} s", (DateTime.UtcNow - unhealthySince.Value).TotalSeconds);
                unhealthySince = null;
                if (consumption.OldestInHandSince is { } since && DateTime.UtcNow - since > options.Value.StuckCommandAfter)
                {
                    StartAfresh("A command has been in hand since {Since:O}, longer than {Limit}; starting afresh", since,
                        options.Value.StuckCommandAfter);
                    return;
                }
                if (await StalledQueueAsync(health, limit, stoppingToken) is { } stalled)
                {
                    StartAfresh("Commands have been waiting in {Queue} for {Seconds:F0} s while this worker took none; " +
                        "starting afresh", stalled, limit.TotalSeconds);
                    return;
                }
                continue;
            }
            _endpoints.Clear();
            if (unhealthySince is null) logger.LogInformation("The bus is {Status}: {Description}", health.Status, health.Description);
            unhealthySince ??= DateTime.UtcNow;
            if (DateTime.UtcNow - unhealthySince < limit) continue;
            StartAfresh("The bus has been {Status} for {Seconds:F0} s ({Description}); starting afresh", health.Status,
                (DateTime.UtcNow - unhealthySince.Value).TotalSeconds, health.Description);
            return;
        }
    }

    /// <summary>The name of a command queue this worker stopped consuming from for at least the limit, if any.</summary>
    async Task<string?> StalledQueueAsync(BusHealthResult health, TimeSpan limit, CancellationToken stoppingToken)
    {
        var now = DateTime.UtcNow;
        foreach (var endpoint in health.Endpoints.Values)
        {
            var address = endpoint.InputAddress;
            // The bus's own reply queue is temporary: it takes no commands.
            if (address.Query.Contains("temporary=true")) continue;
            var queue = address.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries).LastOrDefault();
            if (queue is null || await queues.DepthAsync(queue, stoppingToken) is not { } depth) continue;

            var (delivered, inFlight) = consumption.Of(address);
            var previous = _endpoints.GetValueOrDefault(address, (delivered, null));
            var idle = depth.Ready > 0 && (depth.Consumers == 0 || (delivered == previous.Delivered && inFlight == 0));
            DateTime? stalledSince = idle ? previous.StalledSince ?? now : null;
            if (idle && previous.StalledSince is null)
                logger.LogInformation("{Queue} holds {Ready} commands and {Consumers} consumers, but this worker takes none",
                    queue, depth.Ready, depth.Consumers);
            _endpoints[address] = (delivered, stalledSince);
            if (now - stalledSince >= limit) return queue;
        }
        return null;
    }

    void StartAfresh(string message, params object?[] args)
    {
        logger.LogCritical(message, args);
        freshStarts.Request();
        lifetime.StopApplication();
    }
}
