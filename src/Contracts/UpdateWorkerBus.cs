using Contracts.CustomerPromotionLists;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;
using MassTransit;

namespace Contracts;

/// <summary>Where a MassTransit service sends each command: the operation's partitioned exchange (docs/scale-out.md).</summary>
public static class UpdateWorkerAddresses
{
    public static readonly Uri LeadSegments = Partitioned(UpdateLeadSegment.Queue);
    public static readonly Uri MarketingPermissions = Partitioned(UpdateMarketingPermissions.Queue);
    public static readonly Uri CustomerPromotionLists = Partitioned(UpdateCustomerPromotionList.Queue);

    /// <summary>
    /// The exchange in front of the operation's partition queues, declared as the worker declares it, so that
    /// MassTransit's declaration before a send changes nothing.
    /// </summary>
    static Uri Partitioned(string queue) => new($"exchange:{queue}.partitioned?type=x-consistent-hash");
}

/// <summary>What a MassTransit service needs to call the worker: its request clients, routing keys and result events.</summary>
public static class UpdateWorkerBusExtensions
{
    /// <summary>
    /// Registers <c>IRequestClient&lt;UpdateLeadSegment&gt;</c>, <c>IRequestClient&lt;UpdateMarketingPermissions&gt;</c>
    /// and <c>IRequestClient&lt;UpdateCustomerPromotionList&gt;</c>, each sending to its operation's partitioned
    /// exchange. Each answers <c>GetResponse&lt;TUpdated, TUpdateFailed&gt;</c> with the operation's result events.
    /// </summary>
    public static IBusRegistrationConfigurator AddUpdateWorkerClients(this IBusRegistrationConfigurator bus,
        RequestTimeout timeout = default)
    {
        bus.AddRequestClient<UpdateLeadSegment>(UpdateWorkerAddresses.LeadSegments, timeout);
        bus.AddRequestClient<UpdateMarketingPermissions>(UpdateWorkerAddresses.MarketingPermissions, timeout);
        bus.AddRequestClient<UpdateCustomerPromotionList>(UpdateWorkerAddresses.CustomerPromotionLists, timeout);
        return bus;
    }

    /// <summary>
    /// Gives every send of a command the routing key its partitioned exchange hashes (the document it changes), so
    /// that the commands for one document reach one partition, and the worker instance that holds it, in order.
    /// </summary>
    public static IRabbitMqBusFactoryConfigurator UseUpdateWorker(this IRabbitMqBusFactoryConfigurator bus)
    {
        bus.Send<UpdateLeadSegment>(send => send.UseRoutingKeyFormatter(context => context.Message.PartitionKey()));
        bus.Send<UpdateMarketingPermissions>(send => send.UseRoutingKeyFormatter(context => context.Message.PartitionKey()));
        bus.Send<UpdateCustomerPromotionList>(send => send.UseRoutingKeyFormatter(context => context.Message.PartitionKey()));
        return bus;
    }

    /// <summary>
    /// A queue of the subscriber's own, bound to the exchange of <typeparamref name="TResult"/> (one of the six result
    /// events), that reads the plain JSON the worker publishes; add its consumers in <paramref name="configure"/>.
    /// One queue per result event: the events carry no message type, so the queue's exchange says what they are.
    /// </summary>
    public static void ReceiveUpdateWorkerResults<TResult>(this IRabbitMqBusFactoryConfigurator bus, string queueName,
        Action<IRabbitMqReceiveEndpointConfigurator> configure)
        where TResult : CommandResult
    {
        var exchange = typeof(TResult).GetCustomAttributes(typeof(EntityNameAttribute), false)
            .OfType<EntityNameAttribute>().Single().EntityName;
        bus.ReceiveEndpoint(queueName, endpoint =>
        {
            endpoint.ConfigureConsumeTopology = false;
            endpoint.UseRawJsonDeserializer(RawSerializerOptions.AnyMessageType, isDefault: true);
            // Fanout and durable, as the worker declares it.
            endpoint.Bind(exchange);
            configure(endpoint);
        });
    }
}
