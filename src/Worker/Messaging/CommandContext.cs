using MassTransit;
using MassTransit.RabbitMqTransport;

namespace Worker.Messaging;

/// <summary>What a consumer reads of its command's delivery besides the command itself.</summary>
public static class CommandContext
{
    /// <summary>The command's place in its lane, given by <see cref="DocumentOrderFilter{TCommand}"/>.</summary>
    public static CommandTicket? TicketOf(this ConsumeContext context) =>
        context.TryGetPayload(out CommandTicket? ticket) ? ticket : null;

    /// <summary>The AMQP correlation_id property, for raw JSON commands that carry their correlation id there.</summary>
    public static string? TransportCorrelationId(this ConsumeContext context) =>
        context.ReceiveContext.TryGetPayload(out RabbitMqBasicConsumeContext? rabbit) ? rabbit.Properties.CorrelationId : null;
}
