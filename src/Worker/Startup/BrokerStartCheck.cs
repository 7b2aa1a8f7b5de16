using Microsoft.Extensions.Options;

namespace Worker.Startup;

/// <summary>
/// Waits for the broker before MassTransit's own hosted service starts the bus, up to Startup:WaitForServices (see
/// <see cref="BrokerCheck"/> for why).
/// </summary>
public sealed class BrokerStartCheck(Uri broker, IOptions<StartupOptions> options, IOptions<MessagingOptions> messaging,
    ILogger<BrokerStartCheck> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) =>
        BrokerCheck.WaitAsync(broker, options.Value.WaitForServices, logger, cancellationToken, messaging.Value.ClusterNodes);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
