using Microsoft.Extensions.DependencyInjection;
using System.Text.Json;
using Contracts;
using Contracts.CustomerPromotionLists;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using Worker.CustomerPromotionLists;
using Worker.LeadSegments;
using Worker.MarketingPermissions;
using Worker.Storage;

namespace Publisher.Bench;

/// <summary>
/// The "limit": the worker's own rules and SQL (the same handlers, lanes, batching and inbox records), fed straight
/// from RabbitMQ.Client instead of through MassTransit. Each delivery takes its lane place in delivery order, its
/// result is published with a confirm, then it is acknowledged. What is left between this and the worker is the
/// cost of the messaging framework.
/// </summary>
public sealed class LimitPipeline : IAsyncDisposable
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    readonly List<IChannel> _channels = [];

    LimitPipeline() { }

    public static async Task<LimitPipeline> StartAsync(IConnection connection, IServiceProvider worker, string prefix,
        ushort prefetch, CancellationToken cancellationToken)
    {
        var pipeline = new LimitPipeline();
        var lanes = worker.GetRequiredService<CommandLanes>();
        var leadSegments = worker.GetRequiredService<UpdateLeadSegmentHandler>();
        var permissions = worker.GetRequiredService<UpdateMarketingPermissionsHandler>();
        var promotionLists = worker.GetRequiredService<UpdateCustomerPromotionListHandler>();

        await pipeline.ConsumeAsync<UpdateLeadSegment>(connection, prefix + UpdateLeadSegment.Queue, prefetch, lanes,
            UpdateLeadSegmentHandler.DocumentKey,
            (c, id, ticket) => leadSegments.HandleAsync(c, id, ticket, CancellationToken.None),
            (c, id, o) => o.Succeeded
                ? (LeadSegmentUpdated.Exchange, new LeadSegmentUpdated { CorrelationId = c.CorrelationId, CommandMessageId = id, Status = o.Status, Body = o.Body, Enterprise = c.Enterprise, Id = c.Id })
                : (LeadSegmentUpdateFailed.Exchange, new LeadSegmentUpdateFailed { CorrelationId = c.CorrelationId, CommandMessageId = id, Status = o.Status, Body = o.Body, Enterprise = c.Enterprise, Id = c.Id }),
            cancellationToken);
        await pipeline.ConsumeAsync<UpdateMarketingPermissions>(connection, prefix + UpdateMarketingPermissions.Queue,
            prefetch, lanes, c => UpdateMarketingPermissionsConsumer.AccountIdOf(c)?.ToLowerInvariant() ?? "",
            (c, id, ticket) => permissions.HandleAsync(c, id, ticket, CancellationToken.None),
            (c, id, o) => o.Succeeded
                ? (MarketingPermissionsUpdated.Exchange, new MarketingPermissionsUpdated { CorrelationId = c.CorrelationId, CommandMessageId = id, Status = o.Status, Body = o.Body, AccountId = UpdateMarketingPermissionsConsumer.AccountIdOf(c) })
                : (MarketingPermissionsUpdateFailed.Exchange, new MarketingPermissionsUpdateFailed { CorrelationId = c.CorrelationId, CommandMessageId = id, Status = o.Status, Body = o.Body, AccountId = UpdateMarketingPermissionsConsumer.AccountIdOf(c) }),
            cancellationToken);
        await pipeline.ConsumeAsync<UpdateCustomerPromotionList>(connection, prefix + UpdateCustomerPromotionList.Queue,
            prefetch, lanes, UpdateCustomerPromotionListHandler.DocumentKey,
            (c, id, ticket) => promotionLists.HandleAsync(c, id, ticket, CancellationToken.None),
            (c, id, o) => o.Succeeded
                ? (CustomerPromotionListUpdated.Exchange, new CustomerPromotionListUpdated { CorrelationId = c.CorrelationId, CommandMessageId = id, Status = o.Status, Body = o.Body })
                : (CustomerPromotionListUpdateFailed.Exchange, new CustomerPromotionListUpdateFailed { CorrelationId = c.CorrelationId, CommandMessageId = id, Status = o.Status, Body = o.Body }),
            cancellationToken);
        return pipeline;
    }

    async Task ConsumeAsync<TCommand>(IConnection connection, string queue, ushort prefetch, CommandLanes lanes,
        Func<TCommand, string> documentKey, Func<TCommand, Guid?, CommandTicket, Task<CommandOutcome>> handle,
        Func<TCommand, Guid?, CommandOutcome, (string Exchange, CommandResult Event)> answer,
        CancellationToken cancellationToken)
        where TCommand : class
    {
        var confirms = new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);
        var channel = await connection.CreateChannelAsync(confirms, cancellationToken);
        _channels.Add(channel);
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, cancellationToken: cancellationToken);
        await channel.BasicQosAsync(0, prefetch, false, cancellationToken);

        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            // Deliveries of a channel arrive here one at a time, in order: take the lane place now, work later.
            var command = JsonSerializer.Deserialize<TCommand>(delivery.Body.Span, Json)!;
            var messageId = Guid.TryParse(delivery.BasicProperties.MessageId, out var id) ? id : (Guid?)null;
            var ticket = lanes.Issue(documentKey(command));
            var tag = delivery.DeliveryTag;
            _ = Task.Run(async () =>
            {
                var outcome = await handle(command, messageId, ticket);
                var (exchange, result) = answer(command, messageId, outcome);
                var body = JsonSerializer.SerializeToUtf8Bytes(result, result.GetType(), Json);
                var properties = new BasicProperties { ContentType = "application/json", DeliveryMode = DeliveryModes.Persistent };
                await channel.BasicPublishAsync(exchange, "", false, properties, body);
                await channel.BasicAckAsync(tag, false);
            });
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(queue, autoAck: false, consumer, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            await channel.CloseAsync();
            channel.Dispose();
        }
    }
}
