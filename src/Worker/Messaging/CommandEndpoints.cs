using MassTransit;
using MassTransit.RabbitMqTransport;
using Microsoft.Extensions.Options;

namespace Worker.Messaging;

public static class CommandEndpoints
{
    /// <summary>
    /// What every command queue shares: commands are sent to the queue, not published by type; commands for one
    /// document run one at a time in arrival order; transient failures are retried with backoff; and whatever still
    /// fails is answered with a failed result and kept in the error queue.
    /// </summary>
    /// <param name="documentKey">Names the document a command changes; commands with the same key never overlap.</param>
    public static void ConfigureCommandEndpoint<TConsumer, TCommand>(this IReceiveEndpointConfigurator endpoint,
        IConsumerConfigurator<TConsumer> consumer, IRegistrationContext context, ICommandFailures failures,
        Func<TCommand, string> documentKey)
        where TConsumer : class, IConsumer<TCommand>
        where TCommand : class
    {
        var options = context.GetRequiredService<IOptions<MessagingOptions>>().Value;
        endpoint.ConfigureConsumeTopology = false;
        if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbit)
        {
            rabbit.PrefetchCount = options.PrefetchCount;
        }
        // Before the retry filter: an unreadable command fails the same way every time.
        endpoint.UseFilter(new ReadableCommandFilter(options.MaxMessageBytes));
        // The partition is taken before the retries, so a command being retried keeps later ones for its document waiting.
        endpoint.UsePartitioner<TCommand>(endpoint.CreatePartitioner(options.Partitions),
            command => PartitionKey(documentKey(command.Message)));
        consumer.UseMessageRetry(retry => retry.Exponential(options.RetryLimit, options.RetryMinInterval,
            options.RetryMaxInterval, options.RetryMinInterval));
        endpoint.ConfigureError(error =>
        {
            error.UseFilter(new PublishFailedResultFilter(failures, context,
                context.GetRequiredService<ILogger<PublishFailedResultFilter>>()));
            error.UseFilter(new MassTransit.Middleware.GenerateFaultFilter());
            error.UseFilter(new MassTransit.Middleware.ErrorTransportFilter());
        });
    }

    // MassTransit partitions by Guid; any stable 128-bit hash of the key will do.
    static Guid PartitionKey(string documentKey) =>
        new(System.Security.Cryptography.MD5.HashData(System.Text.Encoding.UTF8.GetBytes(documentKey)));

    /// <summary>The AMQP correlation_id property, for raw JSON commands that carry their correlation id there.</summary>
    public static string? TransportCorrelationId(this ConsumeContext context) =>
        context.ReceiveContext.TryGetPayload(out RabbitMqBasicConsumeContext? rabbit) ? rabbit.Properties.CorrelationId : null;
}
