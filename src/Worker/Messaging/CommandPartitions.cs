using MassTransit;
using Microsoft.Extensions.Options;

namespace Worker.Messaging;

/// <summary>
/// The topology that keeps per-document order across worker instances, made of the broker's own parts. Each
/// operation has a consistent-hash exchange, <c>&lt;queue&gt;.partitioned</c>, in front of
/// <see cref="MessagingOptions.Partitions"/> queues <c>&lt;queue&gt;.p0</c>, <c>&lt;queue&gt;.p1</c>, ...; a publisher
/// sets the document's key as the routing key, so every command for one document lands in the same partition, in
/// publish order. Every instance consumes every partition, and each partition is a single-active-consumer queue: the
/// broker hands it to one instance at a time and, should that instance die, gives it to the next one with its
/// unacknowledged commands back at the head. The operation's own queue stays as it was, for publishers that send
/// straight to it (order then holds within one instance only).
/// </summary>
public static partial class CommandPartitions
{
    public const string ExchangeType = "x-consistent-hash";

    /// <summary>Where a publisher sends a command, with the document's key as the routing key.</summary>
    public static string ExchangeOf(string queue) => $"{queue}.partitioned";

    public static string QueueOf(string queue, int partition) => $"{queue}.p{partition}";

    /// <summary>The operation's own queue for one of its partitions; any other queue for itself.</summary>
    public static string OperationQueueOf(string queue) =>
        PartitionName().Match(queue) is { Success: true } partition ? partition.Groups[1].Value : queue;

    [System.Text.RegularExpressions.GeneratedRegex(@"^(.+)\.p[0-9]+$")]
    private static partial System.Text.RegularExpressions.Regex PartitionName();

    /// <summary>Has the consumer's command queue partitioned as well, each partition configured as its own queue is.</summary>
    public static void AddCommandPartitions<TConsumer>(this IBusRegistrationConfigurator bus, string queue)
        where TConsumer : class, IConsumer =>
        bus.AddSingleton(new PartitionedQueue(queue, (endpoint, context) => endpoint.ConfigureConsumer<TConsumer>(context)));

    public static void ConfigurePartitions(this IRabbitMqBusFactoryConfigurator bus, IBusRegistrationContext context)
    {
        var partitions = context.GetRequiredService<IOptions<MessagingOptions>>().Value.Partitions;
        foreach (var queue in context.GetServices<PartitionedQueue>())
        {
            for (var partition = 0; partition < partitions; partition++)
            {
                bus.ReceiveEndpoint(QueueOf(queue.Name, partition), endpoint =>
                {
                    endpoint.SingleActiveConsumer = true;
                    endpoint.PublishFaults = false;
                    // Every partition weighs the same on the hash ring; the routing key of a binding is its weight.
                    endpoint.Bind(ExchangeOf(queue.Name), binding =>
                    {
                        binding.ExchangeType = ExchangeType;
                        binding.RoutingKey = "1";
                    });
                    queue.Configure(endpoint, context);
                });
            }
        }
    }

    /// <summary>
    /// One error queue and one skipped queue per operation, whichever partition a command failed in: an operator
    /// looks in <c>&lt;queue&gt;_error</c> as before.
    /// </summary>
    public sealed class SharedErrorQueues : IErrorQueueNameFormatter, IDeadLetterQueueNameFormatter
    {
        public string FormatErrorQueueName(string queueName) => OperationQueueOf(queueName) + "_error";
        public string FormatDeadLetterQueueName(string queueName) => OperationQueueOf(queueName) + "_skipped";
    }

    /// <summary>
    /// MassTransit declares an error or skipped queue with the arguments of the queue it serves. A command queue's
    /// own (single active consumer, the delivery limit and where it dead-letters to) would clash between the operation's
    /// queue and its partitions, which share these queues, and mean nothing on them; the queue type stays.
    /// </summary>
    public static void WithoutCommandQueueArguments(IRabbitMqQueueBindingConfigurator queue)
    {
        foreach (var argument in new[] { "x-single-active-consumer", "x-delivery-limit", "x-dead-letter-exchange", "x-dead-letter-routing-key" })
            queue.SetQueueArgument(argument, null!);
    }

    public sealed record PartitionedQueue(string Name, Action<IReceiveEndpointConfigurator, IBusRegistrationContext> Configure);
}
