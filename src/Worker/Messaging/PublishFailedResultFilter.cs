using System.Runtime.Serialization;
using System.Text;
using System.Text.Json;
using MassTransit;
using MassTransit.RabbitMqTransport;

namespace Worker.Messaging;

/// <summary>
/// Runs in a receive endpoint's error pipe, before the message is moved to <c>&lt;queue&gt;_error</c>: publishes the
/// failed result event, so that a command that can't be read or keeps failing is still answered. The original
/// message and the exception stay in the error queue, and nothing is acknowledged without an answer: a command whose
/// failed result cannot be published is not moved, and comes again.
/// </summary>
public sealed class PublishFailedResultFilter(ICommandFailures failures, IServiceProvider services,
    DeliveryOrder order, ILogger<PublishFailedResultFilter> logger) : IFilter<ExceptionReceiveContext>
{
    public async Task Send(ExceptionReceiveContext context, IPipe<ExceptionReceiveContext> next)
    {
        // Whatever failed, a command whose channel is gone can be neither acknowledged nor moved: it comes again.
        if (IsInterrupted(context) || order.IsChannelGone(context))
        {
            // The connection went away mid-command: nothing is answered and nothing moves to the error queue; the
            // broker delivers the command again and the inbox makes sure it is applied once. Debug: a lost connection
            // interrupts every command in hand, and the outage is told once, by DependencyOutages.
            logger.LogDebug(context.Exception, "Command {MessageId} was interrupted; it will be delivered again",
                context.GetMessageId());
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(context.Exception);
        }

        // An oversized body is not even parsed for its correlation id.
        var correlationId = context.Exception is MessageTooLargeException
            ? TransportCorrelationId(context)
            : ReadCorrelationId(context);
        var messageId = context.TryGetPayload(out ConsumeContext? consumeContext)
            ? consumeContext.MessageIdOrNull()
            : context.GetMessageId();
        var idNotAGuid = context.Exception is FormatException ? EnvelopeIdThatIsNotAGuid(context) : null;
        var unreadable = idNotAGuid is not null || IsUnreadable(context.Exception);
        var result = unreadable
            ? failures.Unreadable(correlationId, messageId, ReasonOf(context.Exception),
                idNotAGuid is not null ? $"the envelope's {idNotAGuid} is not a GUID" : Describe(context.Exception))
            : failures.Unexpected(correlationId, messageId);
        // Unreadable input is an expected failure, told in the one line every failed command gets (below), without
        // a stack trace; anything else is unexpected, and its exception is logged in full.
        if (!unreadable)
        {
            logger.LogError(context.Exception, "Command {MessageId} ({CorrelationId}) failed with {Status}; moved to the error queue",
                messageId, correlationId, result.Status);
        }
        try
        {
            await Task.WhenAll(services.GetRequiredService<IBus>().Publish(result, result.GetType(), context.CancellationToken),
                services.GetRequiredService<Replies>().AnswerAsync(context, consumeContext, result, context.CancellationToken));
            services.GetRequiredService<CommandAnswers>().AnsweredFailure(context, correlationId, messageId, result.Status,
                result.Body);
        }
        catch (Exception e)
        {
            // Unanswered, the command must not be moved (which acknowledges it): letting go has the broker deliver it
            // again, and the next attempt answers it. This happens while the bus is stopping or the broker is away.
            // Debug for a connection cut or away: that is an outage, told once by DependencyOutages.
            logger.Log(MassTransitLogs.IsConnectionFault(e) ? LogLevel.Debug : LogLevel.Warning,
                "Could not publish the failed result of command {MessageId} ({Reason}); it will be delivered again",
                messageId, e.GetBaseException().Message);
            throw;
        }
        await next.Send(context);
        services.GetRequiredService<Observability.WorkerMetrics>().SetAside(
            CommandPartitions.OperationQueueOf(context.InputAddress.Segments[^1]), "error");
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("publishFailedResult");

    static bool IsInterrupted(ExceptionReceiveContext context) =>
        DeliveryOrder.IsInterruption(context.Exception, context.CancellationToken);

    /// <summary>A command that cannot be read: not JSON, too large, of a content type not taken, not decodable.</summary>
    public static bool IsUnreadable(Exception exception) =>
        exception is SerializationException or JsonException or DecoderFallbackException
        || exception.InnerException is { } inner && IsUnreadable(inner);

    static UnreadableReason ReasonOf(Exception exception) => exception switch
    {
        MessageTooLargeException => UnreadableReason.TooLarge,
        UnsupportedContentTypeException => UnreadableReason.ContentType,
        _ when exception.Message.Contains("No deserializer", StringComparison.OrdinalIgnoreCase) => UnreadableReason.ContentType,
        _ => UnreadableReason.NotJson,
    };

    static string Describe(Exception exception) => ReasonOf(exception) switch
    {
        UnreadableReason.TooLarge => exception.Message,
        UnreadableReason.ContentType => "the content type is not application/json or application/vnd.masstransit+json",
        _ when exception is SerializationException { Message: "The message body is empty" } => "the message body is empty",
        _ => "the body is not a JSON command",
    };

    /// <summary>
    /// The id of a MassTransit envelope (<c>messageId</c>, <c>requestId</c>, ...) that is not a GUID, if one is:
    /// MassTransit fails to read such an envelope with a <see cref="FormatException"/>, which says nothing else about
    /// where it came from.
    /// </summary>
    static string? EnvelopeIdThatIsNotAGuid(ReceiveContext context)
    {
        try
        {
            using var document = JsonDocument.Parse(context.Body.GetBytes());
            if (document.RootElement.ValueKind != JsonValueKind.Object) return null;
            foreach (var name in EnvelopeIds)
            {
                if (document.RootElement.TryGetProperty(name, out var id) && id.ValueKind != JsonValueKind.Null
                    && (id.ValueKind != JsonValueKind.String || !Guid.TryParse(id.GetString(), out _)))
                    return name;
            }
            return null;
        }
        catch (Exception e) when (e is JsonException or DecoderFallbackException)
        {
            return null;
        }
    }

    static readonly string[] EnvelopeIds = ["messageId", "requestId", "correlationId", "conversationId", "initiatorId"];

    /// <summary>The command's own correlation id when its body has one, else the AMQP correlation_id property.</summary>
    internal static string? ReadCorrelationId(ReceiveContext context)
    {
        try
        {
            using var document = JsonDocument.Parse(context.Body.GetBytes());
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                // MassTransit envelopes nest the command under "message".
                var command = root.TryGetProperty("message", out var message) && message.ValueKind == JsonValueKind.Object
                    ? message : root;
                if (command.TryGetProperty("correlationId", out var id) && id.ValueKind == JsonValueKind.String)
                    return id.GetString();
            }
        }
        catch (Exception e) when (e is JsonException or DecoderFallbackException)
        {
            // Not JSON: fall back to the transport property below.
        }
        return TransportCorrelationId(context);
    }

    static string? TransportCorrelationId(ReceiveContext context) =>
        context.TryGetPayload(out RabbitMqBasicConsumeContext? rabbit) ? rabbit.Properties.CorrelationId : null;
}
