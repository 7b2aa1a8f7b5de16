using Microsoft.Extensions.Options;
using Worker.Startup;

namespace Worker.Messaging;

/// <summary>
/// Starts the worker afresh in-process when it has held one command longer than
/// <see cref="MessagingOptions.StuckCommandAfter"/>, longer than any retry and backoff takes: the host stops (the bus
/// closes its connection, so the broker delivers again what was in flight, to be answered from the inbox, in order)
/// and <see cref="RestartingHost"/> builds a new one. Only when fresh starts keep being needed does the process exit with
/// <see cref="ExitCode"/>, for its supervisor (docker compose, systemd, Kubernetes, scripts/run.sh).
/// <para>
/// MassTransit 8.4 also needed the worker to start afresh after a broker restart with commands in flight (a receive
/// endpoint left down, or healthy with no consumer; 9 of 34 runs), so this watchdog once checked the bus health and
/// the queue depths too. On 8.5.12 the bus recovered by itself in every one of 30 runs of that test with those
/// checks effectively off (docs/guarantees.md), and they were removed. This check guards a different fault: a
/// command that never finishes (a lock another writer holds, a connection that hangs).
/// </para>
/// </summary>
public sealed class StuckCommandWatchdog(CommandsInHand inHand, Worker.Health.DependencyOutages outages,
    IOptions<MessagingOptions> options, RestartingHost restartingHost,
    IHostApplicationLifetime lifetime, ILogger<StuckCommandWatchdog> logger) : BackgroundService
{
    /// <summary>EX_TEMPFAIL: a temporary failure, to be retried by starting the process again.</summary>
    public const int ExitCode = 75;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var limit = options.Value.StuckCommandAfter;
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(Math.Clamp(limit.TotalSeconds / 4, 0.5, 5)));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                // A command held through an outage is not stuck: it waits, as it should, and its time counts from the
                // end of the outage.
                if (outages.AnyAway || inHand.OldestSince is not { } since) continue;
                var from = outages.All.Select(o => o.BackAt?.UtcDateTime ?? DateTime.MinValue).Append(since).Max();
                if (DateTime.UtcNow - from <= limit) continue;
                logger.LogCritical("A command has been in hand since {Since:O}, longer than {Limit}; starting afresh", since, limit);
                restartingHost.Request();
                lifetime.StopApplication();
                return;
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The host is stopping.
        }
    }
}
