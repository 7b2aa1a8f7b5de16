using System.Collections.Concurrent;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Worker.IntegrationTests.Infrastructure;

/// <summary>A reply as a plain AMQP requester receives it: its body byte for byte, and its properties.</summary>
public sealed record ReceivedReply(byte[] Raw, IReadOnlyBasicProperties Properties, string RoutingKey);

/// <summary>
/// A requester as RabbitMQ's RPC tutorial writes one, with RabbitMQ.Client alone: it consumes its reply address
/// (RabbitMQ's direct reply-to pseudo-queue, or an exclusive queue of its own) and sends each command with
/// <c>reply_to</c> naming it and a <c>correlation_id</c> to match the reply by.
/// </summary>
public sealed class ReplyClient : IAsyncDisposable
{
    public const string DirectReplyTo = "amq.rabbitmq.reply-to";

    readonly IConnection _connection;
    readonly IChannel _channel;
    readonly ConcurrentDictionary<string, TaskCompletionSource<ReceivedReply>> _waiting = new();
    readonly ConcurrentQueue<ReceivedReply> _all = new();

    ReplyClient(IConnection connection, IChannel channel, string replyTo) =>
        (_connection, _channel, ReplyTo) = (connection, channel, replyTo);

    /// <summary>What the commands carry as <c>reply_to</c>.</summary>
    public string ReplyTo { get; }

    /// <summary>Every reply received so far.</summary>
    public IReadOnlyCollection<ReceivedReply> All => _all;

    /// <param name="ownQueue">An exclusive queue of the client's own; else direct reply-to.</param>
    public static async Task<ReplyClient> StartAsync(string rabbitMq, bool ownQueue = false)
    {
        var connection = await new ConnectionFactory { Uri = new Uri(rabbitMq) }.CreateConnectionAsync();
        // Direct reply-to takes the requests on the channel that consumes the replies.
        var channel = await connection.CreateChannelAsync(new CreateChannelOptions(
            publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var address = ownQueue
            ? (await channel.QueueDeclareAsync($"test-replies-{Guid.NewGuid():N}", durable: false, exclusive: true,
                autoDelete: true)).QueueName
            : DirectReplyTo;
        var client = new ReplyClient(connection, channel, address);
        var consumer = new AsyncEventingBasicConsumer(channel);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            var reply = new ReceivedReply(delivery.Body.ToArray(), delivery.BasicProperties, delivery.RoutingKey);
            client._all.Enqueue(reply);
            if (reply.Properties.CorrelationId is { } id && client._waiting.TryGetValue(id, out var waiter))
                waiter.TrySetResult(reply);
            return Task.CompletedTask;
        };
        await channel.BasicConsumeAsync(address, autoAck: true, consumer);
        return client;
    }

    /// <summary>Publishes <paramref name="body"/> with reply_to and correlation_id set, confirmed by the broker.</summary>
    public async Task SendAsync(string exchange, string routingKey, byte[] body, string correlationId,
        string? messageId = null, string? contentType = "application/json", IDictionary<string, object?>? headers = null)
    {
        _waiting.TryAdd(correlationId, new TaskCompletionSource<ReceivedReply>(TaskCreationOptions.RunContinuationsAsynchronously));
        var properties = new BasicProperties
        {
            ContentType = contentType, MessageId = messageId ?? Guid.NewGuid().ToString(), CorrelationId = correlationId,
            ReplyTo = ReplyTo, DeliveryMode = DeliveryModes.Persistent, Headers = headers,
        };
        await _channel.BasicPublishAsync(exchange, routingKey, mandatory: true, properties, body);
    }

    /// <summary>Waits for the reply with this correlation id (sent with <see cref="SendAsync"/>).</summary>
    public Task<ReceivedReply> WaitForAsync(string correlationId, TimeSpan? timeout = null) =>
        _waiting[correlationId].Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(15));

    /// <summary>Forgets the replies received for this correlation id, so the next one can be waited for.</summary>
    public void Forget(string correlationId) =>
        _waiting[correlationId] = new TaskCompletionSource<ReceivedReply>(TaskCreationOptions.RunContinuationsAsynchronously);

    public async ValueTask DisposeAsync()
    {
        await _channel.CloseAsync();
        await _connection.CloseAsync();
    }
}
