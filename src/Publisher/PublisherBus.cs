using System.Collections.Concurrent;
using System.Text.Json;
using Hosting;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;
using RabbitMQ.Client.Exceptions;

namespace Publisher;

/// <summary>A result event as it arrives, whichever operation it answers.</summary>
public sealed record ResultView
{
    public string? CorrelationId { get; init; }
    public Guid? CommandMessageId { get; init; }
    public int Status { get; init; }
    public JsonElement Body { get; init; }
}

/// <summary>
/// Sends commands as any upstream service may (plain JSON with an AMQP message id, publisher confirms, mandatory
/// routing) and, when asked, waits for the answer to each at RabbitMQ's direct reply-to: the command names
/// <c>amq.rabbitmq.reply-to</c> as its reply address, and the worker answers there with the result event, so this
/// connection receives the answers to its own commands and nothing else, however many publishers run. It declares
/// nothing: a command goes through the default exchange to the operation's queue, which the worker declared, and
/// direct reply-to is no queue at all, so the publisher needs only write access to the default exchange
/// (docs/security.md). MassTransit's bus would declare and bind the worker's queue on every send, which takes the
/// right to configure, and so to delete, it.
/// </summary>
public sealed class PublisherBus : IAsyncDisposable
{
    /// <summary>RabbitMQ's pseudo-queue for replies to the channel that consumes it.</summary>
    public const string DirectReplyTo = "amq.rabbitmq.reply-to";

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    readonly IConnection _connection;
    readonly IChannel _sending;
    readonly bool _waits;
    readonly SemaphoreSlim _sendGate = new(1, 1);
    // Keyed by the command's message id, which every answer carries: correlation ids come from clients and need not
    // be unique.
    readonly ConcurrentDictionary<Guid, TaskCompletionSource<(string Exchange, ResultView Result)>> _waiting = new();

    PublisherBus(IConnection connection, IChannel sending, bool waits) =>
        (_connection, _sending, _waits) = (connection, sending, waits);

    /// <summary>Answers received, whether or not anyone still waited for them.</summary>
    public long AnswersReceived => Interlocked.Read(ref _answersReceived);
    long _answersReceived;

    /// <param name="waitForAnswers">Whether commands are sent with a reply address, for <see cref="SendAndWaitAsync"/>.</param>
    public static async Task<PublisherBus> StartAsync(BrokerConnection broker, bool waitForAnswers)
    {
        // A wrong address, a refused login or certificate ends in one line instead of a retry loop.
        await BrokerCheck.WaitAsync(broker, TimeSpan.FromSeconds(10), null, CancellationToken.None, clientName: "publisher");
        var connection = await broker.Factory("publisher").CreateConnectionAsync();
        try
        {
            var sending = await connection.CreateChannelAsync(new CreateChannelOptions(
                publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
            var bus = new PublisherBus(connection, sending, waitForAnswers);
            // Direct reply-to answers the channel that sent the command, so the sending channel consumes it too.
            if (waitForAnswers) await bus.ListenAsync(sending);
            return bus;
        }
        catch (Exception e) when (BrokerCheck.Refusal(e) is { } refusal)
        {
            await connection.DisposeAsync();
            throw new StartupFailure($"RabbitMQ at {BrokerConnection.Redacted(broker.Address)} refused: {refusal}; the " +
                "publisher's permissions are in docs/security.md", StartupFailure.NoPermission, e);
        }
    }

    async Task ListenAsync(IChannel channel)
    {
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            Interlocked.Increment(ref _answersReceived);
            try
            {
                var result = JsonSerializer.Deserialize<ResultView>(delivery.Body.Span, Json);
                // The reply's type names the result exchange its event went to, e.g. lead-segment-updated.
                if (result?.CommandMessageId is { } id && _waiting.TryRemove(id, out var waiter))
                    waiter.TrySetResult((delivery.BasicProperties.Type ?? "", result));
            }
            catch (JsonException)
            {
                // Not an answer of the worker's; nobody waits for it.
            }
            return Task.CompletedTask;
        };
        // Direct reply-to takes no acknowledgements.
        await channel.BasicConsumeAsync(DirectReplyTo, autoAck: true, consumer);
    }

    /// <summary>Sends the command to its queue; returns once the broker has confirmed it.</summary>
    public Task SendAsync<T>(string queue, T command, CancellationToken cancellationToken) where T : class =>
        SendAsync(queue, command, Guid.NewGuid(), cancellationToken);

    /// <summary>Sends the command and waits for its result event; null when none came within the timeout.</summary>
    public async Task<(string Exchange, ResultView Result)?> SendAndWaitAsync<T>(string queue, T command,
        TimeSpan timeout, CancellationToken cancellationToken) where T : class
    {
        var messageId = Guid.NewGuid();
        var waiter = new TaskCompletionSource<(string, ResultView)>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiting[messageId] = waiter;
        try
        {
            await SendAsync(queue, command, messageId, cancellationToken);
            return await waiter.Task.WaitAsync(timeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            return null;
        }
        finally
        {
            _waiting.TryRemove(messageId, out _);
        }
    }

    async Task SendAsync<T>(string queue, T command, Guid messageId, CancellationToken cancellationToken) where T : class
    {
        var properties = new BasicProperties
        {
            MessageId = messageId.ToString(), ContentType = "application/json", Persistent = true,
            ReplyTo = _waits ? DirectReplyTo : null,
        };
        var body = JsonSerializer.SerializeToUtf8Bytes(command, Json);
        // One publish at a time on the channel: RabbitMQ.Client's channels are not for concurrent publishers.
        await _sendGate.WaitAsync(cancellationToken);
        try
        {
            // Mandatory: a queue that does not exist (the worker never started) is an error here, not a message
            // the broker drops in silence.
            await _sending.BasicPublishAsync("", queue, mandatory: true, properties, body, cancellationToken);
        }
        catch (PublishReturnException returned)
        {
            throw new StartupFailure($"RabbitMQ returned the command: there is no queue {queue} ({returned.ReplyText}); " +
                "start the worker once, so that it declares its queues", StartupFailure.ServiceUnavailable, returned);
        }
        catch (Exception e) when (BrokerCheck.Refusal(e) is { } refusal)
        {
            throw new StartupFailure($"RabbitMQ refused: {refusal}; the publisher's permissions are in docs/security.md",
                StartupFailure.NoPermission, e);
        }
        finally
        {
            _sendGate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _sending.DisposeAsync();
        await _connection.DisposeAsync();
        _sendGate.Dispose();
    }
}
