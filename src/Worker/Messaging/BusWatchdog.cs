using MassTransit;
using Microsoft.Extensions.Options;

namespace Worker.Messaging;

/// <summary>
/// Restarts the bus when it has not been healthy for <see cref="MessagingOptions.RestartUnhealthyBusAfter"/>.
/// MassTransit reconnects by itself after most broker outages, but when the connection dies while commands are in
/// flight its receive endpoints can stay down for good; this gets the worker consuming again without a process
/// restart. Commands that were in flight are delivered again and answered from the inbox.
/// </summary>
public sealed class BusWatchdog(IBusControl bus, IOptions<MessagingOptions> options, ILogger<BusWatchdog> logger)
    : BackgroundService
{
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
                unhealthySince = null;
                continue;
            }
            unhealthySince ??= DateTime.UtcNow;
            if (DateTime.UtcNow - unhealthySince < limit) continue;

            logger.LogWarning("The bus has been {Status} for {Seconds:F0} s ({Description}); restarting it",
                health.Status, (DateTime.UtcNow - unhealthySince.Value).TotalSeconds, health.Description);
            try
            {
                using var stopping = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                stopping.CancelAfter(TimeSpan.FromSeconds(30));
                await bus.StopAsync(stopping.Token);
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning(e, "Stopping the unhealthy bus did not finish cleanly");
            }
            await bus.StartAsync(stoppingToken);
            unhealthySince = null;
        }
    }
}
