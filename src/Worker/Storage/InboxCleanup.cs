using Microsoft.Extensions.Options;
using Npgsql;

namespace Worker.Storage;

/// <summary>
/// Drops the inbox's expired days and makes the coming ones (<see cref="InboxPartitions"/>), so the inbox stays the size
/// of one retention window.
/// </summary>
public sealed class InboxCleanup(InboxPartitions inbox, IOptions<StorageOptions> options,
    Worker.Health.DependencyOutages outages, Observability.WorkerMetrics metrics, ILogger<InboxCleanup> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.InboxCleanupInterval);
        try
        {
            do
            {
                try
                {
                    await inbox.MaintainAsync(options.Value.InboxRetention, stoppingToken);
                }
                catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
                {
                    // A role that may only read and write rows needs the right to run the maintenance function; without
                    // it the partitions made ahead by `worker schema` run out after a few days (docs/security.md).
                    metrics.InboxMaintenanceFailed();
                    logger.LogWarning("Inbox maintenance refused ({Message}); grant EXECUTE on function {Function} to this " +
                        "role (docs/security.md)", e.MessageText, "mt_inbox_maintain(interval, integer)");
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    // The next tick tries again; an outage of the database must not stop the worker, and is told
                    // by DependencyOutages.
                    if (await outages.DatabaseIsAwayAsync(stoppingToken)) continue;
                    metrics.InboxMaintenanceFailed();
                    logger.LogWarning(e, "Inbox cleanup failed");
                }
            } while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (Exception) when (stoppingToken.IsCancellationRequested)
        {
            // The host is stopping, also when it stops before it ever started: nothing to report.
        }
    }
}
