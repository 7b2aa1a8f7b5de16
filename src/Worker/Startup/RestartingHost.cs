using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;

namespace Worker.Startup;

/// <summary>
/// Runs the worker's host and, when the <see cref="StuckCommandWatchdog"/> gives up on a command, builds a new host in
/// the same process: a new bus with new connections, lanes and database pool, while the process, its health endpoint
/// address and its supervisor's view of it stay the same. Fresh starts are counted: more than
/// <see cref="MessagingOptions.FreshStartsInProcess"/> within <see cref="MessagingOptions.FreshStartWindow"/> means
/// something a new bus does not cure, and the process exits with <see cref="StuckCommandWatchdog.ExitCode"/> instead.
/// </summary>
public sealed class RestartingHost
{
    readonly Queue<DateTime> _recent = new();
    volatile bool _requested;
    volatile bool _stopSignalled;

    int _freshStarts;

    /// <summary>Fresh starts in-process since the process started (<c>worker_fresh_starts_total</c>).</summary>
    public int FreshStarts => Volatile.Read(ref _freshStarts);

    /// <summary>Asks for a fresh start once the current host has stopped.</summary>
    public void Request() => _requested = true;

    public async Task<int> RunAsync(Func<IHost> build)
    {
        // SIGTERM or Ctrl-C while a fresh start is under way ends the process instead; the host's own handlers
        // still do the stopping.
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, _ => _stopSignalled = true);
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, _ => _stopSignalled = true);
        while (true)
        {
            _requested = false;
            MessagingOptions options;
            ILogger logger;
            using (var host = build())
            {
                options = host.Services.GetRequiredService<IOptions<MessagingOptions>>().Value;
                logger = host.Services.GetRequiredService<ILogger<RestartingHost>>();
                await host.RunAsync();
            }
            if (!_requested || _stopSignalled) return Environment.ExitCode;

            var now = DateTime.UtcNow;
            while (_recent.TryPeek(out var at) && now - at > options.FreshStartWindow) _recent.Dequeue();
            if (_recent.Count >= options.FreshStartsInProcess)
            {
                logger.LogCritical("{Count} fresh starts within {Window} did not help; exiting with {ExitCode} to be " +
                    "started again by the supervisor", _recent.Count, options.FreshStartWindow, StuckCommandWatchdog.ExitCode);
                return StuckCommandWatchdog.ExitCode;
            }
            _recent.Enqueue(now);
            Interlocked.Increment(ref _freshStarts);
            logger.LogWarning("Starting afresh in-process ({Count} of {Limit} within {Window})", _recent.Count,
                options.FreshStartsInProcess, options.FreshStartWindow);
        }
    }
}
