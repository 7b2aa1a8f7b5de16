using MassTransit;
using MassTransit.RabbitMqTransport;

namespace Worker.Messaging;

/// <summary>What a consumer reads of its command's delivery besides the command itself.</summary>
public static class CommandContext
{
    /// <summary>The command's place in its lane, given by <see cref="DocumentOrderFilter{TCommand}"/>.</summary>
    public static CommandTicket? TicketOf(this ConsumeContext context) =>
        context.ReceiveContext.TryGetPayload(out CommandTicket? ticket) ? ticket : null;

    /// <summary>The message id; null when there is none, or when an envelope's is not a GUID (MassTransit throws for it).</summary>
    public static Guid? MessageIdOrNull(this ConsumeContext context)
    {
        try
        {
            return context.MessageId;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>The AMQP correlation_id property, for raw JSON commands that carry their correlation id there.</summary>
    public static string? TransportCorrelationId(this ConsumeContext context) =>
        context.ReceiveContext.TryGetPayload(out RabbitMqBasicConsumeContext? rabbit) ? rabbit.Properties.CorrelationId : null;
}
