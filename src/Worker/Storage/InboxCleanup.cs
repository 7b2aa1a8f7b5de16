using Microsoft.Extensions.Options;

namespace Worker.Storage;

/// <summary>Deletes inbox entries older than the retention, so the inbox stays the size of one retention window.</summary>
public sealed class InboxCleanup(CommandInbox inbox, IOptions<StorageOptions> options, ILogger<InboxCleanup> logger)
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
                    await inbox.DeleteExpiredAsync(options.Value.InboxRetention, stoppingToken);
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    // The next tick tries again; an outage of the database must not stop the worker.
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
