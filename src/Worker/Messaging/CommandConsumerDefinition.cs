using MassTransit;
using MassTransit.RabbitMqTransport;
using Microsoft.Extensions.Options;

namespace Worker.Messaging;

/// <summary>
/// What every command queue shares: commands are sent to the queue, not published by type; commands for one
/// document run one at a time in arrival order; transient failures are retried with backoff; whatever still fails is
/// answered with a <typeparamref name="TFailed"/> worded by <typeparamref name="TErrors"/> and kept in the error
/// queue; and a message of a type the queue does not take is answered the same way and kept in the skipped queue.
/// </summary>
/// <param name="queue">The operation's queue.</param>
/// <param name="documentKey">Names the document a command changes; commands with the same key never overlap.</param>
public abstract class CommandConsumerDefinition<TConsumer, TCommand, TFailed, TErrors> : ConsumerDefinition<TConsumer>
    where TConsumer : class, IConsumer<TCommand>
    where TCommand : class
    where TFailed : CommandResult, new()
    where TErrors : IApiErrors
{
    readonly Func<TCommand, string> _documentKey;

    protected CommandConsumerDefinition(string queue, Func<TCommand, string> documentKey)
    {
        EndpointName = queue;
        _documentKey = documentKey;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpoint,
        IConsumerConfigurator<TConsumer> consumer, IRegistrationContext context)
    {
        var failures = new CommandFailures<TFailed, TErrors>();
        var options = context.GetRequiredService<IOptions<MessagingOptions>>().Value;
        endpoint.ConfigureConsumeTopology = false;
        if (endpoint is IRabbitMqReceiveEndpointConfigurator rabbit)
        {
            rabbit.PrefetchCount = options.PrefetchCount;
            if (options.QueueType == CommandQueueType.Quorum)
            {
                rabbit.SetQuorumQueue();
                // A command the broker has delivered this often (crashed workers included) is dead-lettered into the
                // queue's error queue, where the worker's own failures go too.
                rabbit.SetQueueArgument("x-delivery-limit", options.DeliveryLimit);
                var errorQueue = CommandPartitions.OperationQueueOf(endpoint.InputAddress.Segments[^1]) + "_error";
                // A quorum queue too, declared as MassTransit's error transport declares it: on a cluster, a classic
                // error queue on a lost node would hold up every partition with a command to move there.
                rabbit.BindDeadLetterQueue(errorQueue, errorQueue, queue => queue.SetQueueArgument("x-queue-type", "quorum"));
            }
        }
        var order = context.GetRequiredService<DeliveryOrder>();
        endpoint.ConfigureReceive(receive =>
        {
            // Outermost, so that every delivery is settled, whatever becomes of it.
            receive.UseFilter(new SettleDeliveryFilter(order, context.GetRequiredService<CommandLanes>(),
                context.GetRequiredService<CommandsInHand>()));
            // The command's span covers its error and dead-letter answers too.
            receive.UseFilter(new CommandTracing.ReceiveFilter(endpoint.InputAddress.Segments[^1]));
        });
        // Ahead of the delivery order, so that what waits out an outage has taken no place in a lane yet.
        endpoint.UseFilter(new IntakePause(context.GetRequiredService<Worker.Health.DependencyOutages>()));
        endpoint.UseFilter(new DocumentOrderFilter<TCommand>(order, context.GetRequiredService<PartitionBalancer>(), _documentKey));
        // Before the retry filter: an unreadable command fails the same way every time.
        endpoint.UseFilter(new ReadableCommandFilter(options.MaxMessageBytes));
        consumer.UseMessageRetry(retry =>
        {
            retry.Exponential(options.RetryLimit, options.RetryMinInterval, options.RetryMaxInterval, options.RetryMinInterval);
            // A lost broker connection is not retried here: the command's channel is gone, so it could never be
            // acknowledged. Letting go at once lets MassTransit reconnect; the broker delivers the command again.
            retry.Ignore<RabbitMQ.Client.Exceptions.AlreadyClosedException>();
            retry.Ignore<RabbitMQ.Client.Exceptions.OperationInterruptedException>();
            retry.Ignore<OperationCanceledException>();
        });
        endpoint.ConfigureDeadLetter(deadLetter =>
        {
            deadLetter.UseFilter(new AnswerSkippedCommandFilter(failures, context,
                context.GetRequiredService<ILogger<AnswerSkippedCommandFilter>>()));
            deadLetter.UseFilter(new MassTransit.Middleware.DeadLetterTransportFilter());
        });
        endpoint.ConfigureError(error =>
        {
            error.UseFilter(new PublishFailedResultFilter(failures, context, context.GetRequiredService<DeliveryOrder>(),
                context.GetRequiredService<ILogger<PublishFailedResultFilter>>()));
            error.UseFilter(new MassTransit.Middleware.GenerateFaultFilter());
            error.UseFilter(new MassTransit.Middleware.ErrorTransportFilter());
        });
    }
}
