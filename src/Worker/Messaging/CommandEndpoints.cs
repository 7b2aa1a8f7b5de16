using MassTransit;
using MassTransit.RabbitMqTransport;
using Microsoft.Extensions.Options;

namespace Worker.Messaging;

public static class CommandEndpoints
{
    /// <summary>
    /// What every command queue shares: commands are sent to the queue, not published by type; transient failures
    /// are retried with backoff; and whatever still fails is answered with a failed result and kept in the error
    /// queue.
    /// </summary>
    public static void ConfigureCommandEndpoint(this IReceiveEndpointConfigurator endpoint, IRegistrationContext context,
        ICommandFailures failures)
    {
        var options = context.GetRequiredService<IOptions<MessagingOptions>>().Value;
        endpoint.ConfigureConsumeTopology = false;
        if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbit)
        {
            rabbit.PrefetchCount = options.PrefetchCount;
        }
        // Before the retry filter: an unreadable command fails the same way every time.
        endpoint.UseFilter(new ReadableCommandFilter());
        endpoint.UseMessageRetry(retry => retry.Exponential(options.RetryLimit, options.RetryMinInterval,
            options.RetryMaxInterval, options.RetryMinInterval));
        endpoint.ConfigureError(error =>
        {
            error.UseFilter(new PublishFailedResultFilter(failures, context,
                context.GetRequiredService<ILogger<PublishFailedResultFilter>>()));
            error.UseFilter(new MassTransit.Middleware.GenerateFaultFilter());
            error.UseFilter(new MassTransit.Middleware.ErrorTransportFilter());
        });
    }

    /// <summary>The AMQP correlation_id property, for raw JSON commands that carry their correlation id there.</summary>
    public static string? TransportCorrelationId(this ConsumeContext context) =>
        context.ReceiveContext.TryGetPayload(out RabbitMqBasicConsumeContext? rabbit) ? rabbit.Properties.CorrelationId : null;
}
