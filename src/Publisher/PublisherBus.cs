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
/// routing) and, when asked, waits for the result event of each on a reply queue of its own bound to the operation's
/// result exchanges. It declares nothing of the worker's: a command goes through the default exchange to the
/// operation's queue, which the worker declared, so the publisher needs only write access there
/// (docs/security.md). MassTransit's bus would declare and bind the worker's queue on every send, which takes the
/// right to configure, and so to delete, it.
/// </summary>
public sealed class PublisherBus : IAsyncDisposable
{
    public const string DefaultReplyQueuePrefix = "publisher-replies-";

    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    readonly IConnection _connection;
    readonly IChannel _sending;
    readonly IChannel? _replies;
    readonly SemaphoreSlim _sendGate = new(1, 1);
    // Keyed by the command's message id, which every result event carries: correlation ids come from clients and
    // need not be unique.
    readonly ConcurrentDictionary<Guid, TaskCompletionSource<(string Exchange, ResultView Result)>> _waiting = new();

    PublisherBus(IConnection connection, IChannel sending, IChannel? replies) =>
        (_connection, _sending, _replies) = (connection, sending, replies);

    /// <summary>The reply queue, when there is one.</summary>
    public string? ReplyQueue { get; private set; }

    public static async Task<PublisherBus> StartAsync(BrokerConnection broker, string[] resultExchanges,
        string replyQueuePrefix = DefaultReplyQueuePrefix)
    {
        // A wrong address, a refused login or certificate ends in one line instead of a retry loop.
        await BrokerCheck.WaitAsync(broker, TimeSpan.FromSeconds(10), null, CancellationToken.None, clientName: "publisher");
        var connection = await broker.Factory("publisher").CreateConnectionAsync();
        try
        {
            var sending = await connection.CreateChannelAsync(new CreateChannelOptions(
                publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
            IChannel? replies = resultExchanges.Length == 0 ? null : await connection.CreateChannelAsync();
            var bus = new PublisherBus(connection, sending, replies);
            if (replies is not null) await bus.ListenAsync(replies, resultExchanges, replyQueuePrefix);
            return bus;
        }
        catch (Exception e) when (BrokerCheck.Refusal(e) is { } refusal)
        {
            await connection.DisposeAsync();
            throw new StartupFailure($"RabbitMQ at {BrokerConnection.Redacted(broker.Address)} refused: {refusal}; the " +
                "publisher's permissions are in docs/security.md", StartupFailure.NoPermission, e);
        }
    }

    /// <summary>
    /// A queue only this connection uses (exclusive, gone with it), named by the prefix so that an operator can grant
    /// exactly it, bound to the result exchanges the worker declared.
    /// </summary>
    async Task ListenAsync(IChannel channel, string[] resultExchanges, string prefix)
    {
        var queue = (await channel.QueueDeclareAsync(prefix + Guid.NewGuid().ToString("N"), durable: false,
            exclusive: true, autoDelete: true)).QueueName;
        foreach (var exchange in resultExchanges) await channel.QueueBindAsync(queue, exchange, "");
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            try
            {
                var result = JsonSerializer.Deserialize<ResultView>(delivery.Body.Span, Json);
                if (result?.CommandMessageId is { } id && _waiting.TryRemove(id, out var waiter))
                    waiter.TrySetResult((delivery.Exchange, result));
            }
            catch (JsonException)
            {
                // Not a result event of ours; nobody waits for it.
            }
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(queue, autoAck: true, consumer);
        ReplyQueue = queue;
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
        if (_replies is not null) await _replies.DisposeAsync();
        await _sending.DisposeAsync();
        await _connection.DisposeAsync();
        _sendGate.Dispose();
    }
}
