using MassTransit;
using Microsoft.Extensions.Options;

namespace Worker.Messaging;

/// <summary>
/// Gets the worker consuming again when MassTransit does not. It reconnects by itself after most broker outages; but
/// when the connection dies while commands are in flight and their acknowledgements fail, MassTransit 8.4 can leave
/// a receive endpoint down for good, or report it healthy while nothing reaches it, and an endpoint in that state
/// cannot be restarted in-process either (it still counts as started). So the watchdog checks two things:
/// <list type="bullet">
/// <item>the bus health: unhealthy for <see cref="MessagingOptions.RestartUnhealthyBusAfter"/> gets one in-process
/// stop and start, and if that does not help within the same time the worker exits;</item>
/// <item>the queues: commands waiting in a command queue while this worker has none in hand and takes none (or
/// the queue has no consumer at all) for the same time means it stopped consuming, and the worker exits;</item>
/// <item>the commands in hand: one held longer than <see cref="MessagingOptions.StuckCommandAfter"/> is stuck, and
/// the worker exits.</item>
/// </list>
/// It exits with <see cref="ExitCode"/> for its supervisor (docker compose, systemd, Kubernetes, scripts/run.sh) to
/// start it afresh. Commands that were in flight are delivered again and answered from the inbox, in order.
/// </summary>
public sealed class BusWatchdog(IBusControl bus, ConsumptionMonitor consumption, QueueProbe queues,
    IOptions<MessagingOptions> options, IHostApplicationLifetime lifetime, ILogger<BusWatchdog> logger)
    : BackgroundService
{
    /// <summary>EX_TEMPFAIL: a temporary failure, to be retried by starting the worker again.</summary>
    public const int ExitCode = 75;

    readonly Dictionary<Uri, (long Delivered, DateTime? StalledSince)> _endpoints = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var limit = options.Value.RestartUnhealthyBusAfter;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(Math.Clamp(limit.TotalSeconds / 4, 0.5, 5)));
        DateTime? unhealthySince = null;
        var restarted = false;
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var health = bus.CheckHealth();
            if (health.Status == BusHealthStatus.Healthy)
            {
                if (unhealthySince is not null) logger.LogInformation("The bus is healthy again");
                (unhealthySince, restarted) = (null, false);
                if (consumption.OldestInHandSince is { } since && DateTime.UtcNow - since > options.Value.StuckCommandAfter)
                {
                    Exit("A command has been in hand since {Since:O}, longer than {Limit}; exiting with {ExitCode} to be " +
                        "started afresh", since, options.Value.StuckCommandAfter, ExitCode);
                    return;
                }
                if (await StalledQueueAsync(health, limit, stoppingToken) is { } stalled)
                {
                    Exit("Commands have been waiting in {Queue} for {Seconds:F0} s while this worker took none; " +
                        "exiting with {ExitCode} to be started afresh", stalled, limit.TotalSeconds, ExitCode);
                    return;
                }
                continue;
            }
            _endpoints.Clear();
            if (unhealthySince is null) logger.LogInformation("The bus is {Status}: {Description}", health.Status, health.Description);
            unhealthySince ??= DateTime.UtcNow;
            if (DateTime.UtcNow - unhealthySince < limit) continue;

            if (restarted)
            {
                Exit("The bus is still {Status} after a restart ({Description}); exiting with {ExitCode} to be started afresh",
                    health.Status, health.Description, ExitCode);
                return;
            }
            logger.LogWarning("The bus has been {Status} for {Seconds:F0} s ({Description}); restarting it",
                health.Status, (DateTime.UtcNow - unhealthySince.Value).TotalSeconds, health.Description);
            await RestartAsync(stoppingToken);
            (unhealthySince, restarted) = (DateTime.UtcNow, true);
        }
    }

    /// <summary>The name of a command queue this worker stopped consuming from for at least the limit, if any.</summary>
    async Task<string?> StalledQueueAsync(BusHealthResult health, TimeSpan limit, CancellationToken stoppingToken)
    {
        var now = DateTime.UtcNow;
        foreach (var endpoint in health.Endpoints.Values)
        {
            var address = endpoint.InputAddress;
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

    void Exit(string message, params object?[] args)
    {
        logger.LogCritical(message, args);
        Environment.ExitCode = ExitCode;
        lifetime.StopApplication();
    }

    async Task RestartAsync(CancellationToken stoppingToken)
    {
        try
        {
            using var stopping = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            stopping.CancelAfter(TimeSpan.FromSeconds(30));
            await bus.StopAsync(stopping.Token);
            await bus.StartAsync(stoppingToken);
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested)
        {
            // What is left to try is a fresh process; the next check decides.
            logger.LogWarning(e, "Restarting the bus in-process failed");
        }
    }
}
