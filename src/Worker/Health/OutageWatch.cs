using MassTransit;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Worker.Messaging;

namespace Worker.Health;

/// <summary>
/// Asks the database every <see cref="HealthOptions.ProbeInterval"/> whether it answers, and reads the broker
/// connection's state from MassTransit's bus health, so that an outage is noticed within a bound even when nothing is
/// sent (a network that drops packets closes nothing): the database within the interval and a probe's timeout, the
/// broker once the connection's heartbeats stop (docs/operations.md). It is the only one that marks a dependency back.
/// </summary>
public sealed class OutageWatch(DependencyOutages outages, IBusControl bus, BrokerRefusals refusals,
    IHostApplicationLifetime lifetime, IOptions<HealthOptions> options, TimeProvider clock) : BackgroundService
{
    /// <summary>When each outage was last told of, and how long until it is told of again.</summary>
    readonly Dictionary<DependencyOutage, (DateTimeOffset At, TimeSpan Next)> _told = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.ProbeInterval, clock);
        try
        {
            do
            {
                var why = await outages.ProbeDatabaseAsync(stoppingToken);
                if (why is null) outages.Back(outages.Database);
                else outages.GoneAway(outages.Database, why);

                // The bus is not healthy before it has started, nor while it stops; neither is an outage.
                if (lifetime.ApplicationStarted.IsCancellationRequested && !lifetime.ApplicationStopping.IsCancellationRequested)
                    await WatchBrokerAsync(stoppingToken);
                Remind();
            } while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The host is stopping.
        }
    }

    async Task WatchBrokerAsync(CancellationToken cancellationToken)
    {
        var health = bus.CheckHealth();
        if (health.Status == BusHealthStatus.Healthy)
        {
            outages.Back(outages.Broker);
            return;
        }
        // A refusal (a permission, a certificate) is told by BrokerRefusals, and is no outage to wait out.
        var refused = await refusals.CheckHealthAsync(new HealthCheckContext(), cancellationToken);
        if (refused.Status != HealthStatus.Healthy) return;
        outages.GoneAway(outages.Broker, health.Exception?.GetBaseException().Message.TrimEnd('.')
            ?? "the connection is down");
    }

    // After one reminder interval, then twice as long each time, up to 16 intervals (1, 2, 4, 8, 16, 16 ... minutes
    // by default): a long outage stays in view without filling the log.
    void Remind()
    {
        var now = clock.GetUtcNow();
        var first = options.Value.OutageReminder;
        foreach (var outage in outages.All)
        {
            if (outage.AwaySince is not { } since)
            {
                _told.Remove(outage);
                continue;
            }
            var (at, next) = _told.GetValueOrDefault(outage, (since, first));
            if (now - at < next) continue;
            _told[outage] = (now, TimeSpan.FromTicks(Math.Min(next.Ticks * 2, first.Ticks * 16)));
            outages.Remind(outage);
        }
    }
}
