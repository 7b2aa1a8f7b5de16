using System.Collections.Concurrent;
using System.Net.Mime;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MassTransit;
using MassTransit.RabbitMqTransport;

namespace Worker.Messaging;

/// <summary>
/// Answers a command at the address it names, beside its result event (which the result exchanges carry as
/// always): a MassTransit request (an envelope with <c>responseAddress</c>) gets a MassTransit response that a request
/// client matches by its <c>requestId</c>; a plain AMQP message with <c>reply_to</c> gets the result event's JSON,
/// the same bytes the result exchange carries. Both go through the default exchange to the queue the address names,
/// so nothing is declared (the worker may not configure its callers' queues) and an address whose queue is gone
/// drops the reply in the broker: a requester that gave up costs nothing.
/// </summary>
public sealed partial class Replies(IBus bus, ILogger<Replies> logger)
{
    /// <summary>
    /// MassTransit's name for the default exchange with a routing key: sending there declares nothing. RabbitMQ's
    /// direct reply-to and plain queue names are both reached this way.
    /// </summary>
    static readonly Uri DefaultExchange = new("exchange:" + RabbitMqExchangeNames.ReplyTo);

    static readonly ContentType Envelope = new("application/vnd.masstransit+json");

    static readonly ConcurrentDictionary<Type, string> Exchanges = new();

    /// <summary>Sends <paramref name="result"/> to the command's reply address, if it names one.</summary>
    /// <param name="command">The command's delivery.</param>
    /// <param name="consume">The command as MassTransit read it, when it could.</param>
    public async Task AnswerAsync(ReceiveContext command, ConsumeContext? consume, CommandResult result,
        CancellationToken cancellationToken)
    {
        if (!command.TryGetPayload(out RabbitMqBasicConsumeContext? delivery)) return;
        if (consume is null) command.TryGetPayload(out consume);
        var replyTo = delivery.Properties.ReplyTo;
        var (responseAddress, requestId) = consume is not null ? AddressOf(consume) : EnvelopeOf(command);
        var queue = responseAddress is null ? replyTo : QueueOf(command.InputAddress, responseAddress, replyTo);
        if (string.IsNullOrWhiteSpace(queue)) return;

        var endpoint = await bus.GetSendEndpoint(DefaultExchange);
        try
        {
            await endpoint.Send(result, result.GetType(), Pipe.Execute<SendContext>(send =>
            {
                var rabbit = send.GetPayload<RabbitMqSendContext>();
                rabbit.RoutingKey = queue;
                // The command's own message id decides the reply's, so that a repeated answer is the same message.
                send.MessageId = ReplyIdOf(result.CommandMessageId);
                rabbit.BasicProperties.CorrelationId = delivery.Properties.CorrelationId ?? result.CorrelationId;
                // Which result event this is, for a plain client that reads a reply without its exchange.
                rabbit.BasicProperties.Type = ExchangeOf(result);
                if (responseAddress is null) return;
                send.RequestId = requestId;
                send.Serializer = send.Serialization.GetMessageSerializer(Envelope);
            }), cancellationToken);
            ReplySent(result.CommandMessageId, queue);
        }
        catch (Exception e) when (Hosting.BrokerCheck.Refusal(e) is { } refusal)
        {
            // The broker refused the address itself (a name it does not take, or no write on its default exchange):
            // that is the address's fault, not the command's. The result exchanges carry the answer still.
            ReplyRefused(result.CommandMessageId, queue, refusal);
        }
    }

    static (Uri? ResponseAddress, Guid? RequestId) AddressOf(ConsumeContext consume)
    {
        try
        {
            return (consume.ResponseAddress, consume.RequestId);
        }
        catch (FormatException)
        {
            // MassTransit reads an envelope's addresses and ids when asked: one whose responseAddress is not a URI,
            // or whose requestId is not a GUID, names no address a response could be matched at.
            return (null, null);
        }
    }

    /// <summary>
    /// The response address and request id of a MassTransit envelope that was not read as a command (a message type
    /// the queue does not take): what MassTransit would have read, from the JSON itself.
    /// </summary>
    static (Uri? ResponseAddress, Guid? RequestId) EnvelopeOf(ReceiveContext command)
    {
        try
        {
            using var envelope = JsonDocument.Parse(command.Body.GetBytes());
            var root = envelope.RootElement;
            if (root.ValueKind != JsonValueKind.Object
                || !root.TryGetProperty("responseAddress", out var address) || address.ValueKind != JsonValueKind.String
                || !Uri.TryCreate(address.GetString(), UriKind.Absolute, out var responseAddress))
                return (null, null);
            var requestId = root.TryGetProperty("requestId", out var id) && id.ValueKind == JsonValueKind.String
                && Guid.TryParse(id.GetString(), out var parsed) ? parsed : (Guid?)null;
            return (responseAddress, requestId);
        }
        catch (Exception e) when (e is JsonException or DecoderFallbackException)
        {
            return (null, null);
        }
    }

    /// <summary>
    /// The queue behind a MassTransit response address: the direct reply-to name the broker gave the delivery when the
    /// requester asked for it, else the address's queue (a bus or receive endpoint, whose exchange and queue share
    /// their name).
    /// </summary>
    public static string? QueueOf(Uri hostAddress, Uri responseAddress, string? replyTo)
    {
        if (responseAddress.IsReplyToAddress()) return replyTo;
        try
        {
            var address = new RabbitMqEndpointAddress(hostAddress, responseAddress);
            return address.BindToQueue && !string.IsNullOrEmpty(address.QueueName) ? address.QueueName : address.Name;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or MassTransitException)
        {
            return null;
        }
    }

    /// <summary>A message id of the reply's own, the same for every answer to one command.</summary>
    public static Guid ReplyIdOf(Guid? commandMessageId) => commandMessageId is { } id
        ? new Guid(MD5.HashData(Encoding.ASCII.GetBytes($"reply/{id:N}")))
        : NewId.NextGuid();

    static string ExchangeOf(CommandResult result) => Exchanges.GetOrAdd(result.GetType(),
        type => type.GetCustomAttribute<EntityNameAttribute>()?.EntityName ?? type.Name);

    // Debug: a reply is sent for every command that asks; the result event's own line and metrics tell the rest.
    [LoggerMessage(Level = LogLevel.Debug, Message = "Answered command {MessageId} at {ReplyTo}")]
    partial void ReplySent(Guid? messageId, string replyTo);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Could not answer command {MessageId} at {ReplyTo}: RabbitMQ refused ({Reason}); its result event is published")]
    partial void ReplyRefused(Guid? messageId, string replyTo, string reason);
}
