using System.Collections.Concurrent;
using System.Text.Json;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Worker.IntegrationTests.Infrastructure;

/// <summary>A result event as a plain AMQP subscriber sees it: the exchange it came through and its JSON body.</summary>
public sealed record ReceivedResult(string Exchange, JsonElement Event, IReadOnlyBasicProperties Properties)
{
    /// <summary>The body as it came, byte for byte.</summary>
    public byte[] Raw { get; init; } = [];

    public int Status => Event.GetProperty("status").GetInt32();
    public JsonElement Body => Event.GetProperty("body");
}

/// <summary>
/// Subscribes to result exchanges with RabbitMQ.Client alone, as a non-.NET subscriber would, and hands each
/// result to the test waiting for its correlation id.
/// </summary>
public sealed class ResultListener : IAsyncDisposable
{
    readonly ConcurrentDictionary<string, List<ReceivedResult>> _byCorrelationId = new();
    readonly ConcurrentDictionary<Guid, ReceivedResult> _byCommand = new();
    readonly IConnection _connection;
    readonly IChannel _channel;

    ResultListener(IConnection connection, IChannel channel)
    {
        _connection = connection;
        _channel = channel;
    }

    /// <param name="durableQueue">
    /// A durable queue to collect results in, so that none are lost while the broker restarts; by default an
    /// exclusive queue that lives as long as the connection.
    /// </param>
    /// <param name="clusterNodes">
    /// All nodes of a RabbitMQ cluster (the connection goes to any that answers), in which case the durable queue is a
    /// quorum queue, so that it outlives the loss of a node.
    /// </param>
    public static async Task<ResultListener> StartAsync(string rabbitMq, string[] exchanges, string? durableQueue = null,
        IReadOnlyList<string>? clusterNodes = null)
    {
        var factory = new ConnectionFactory
        {
            Uri = new Uri(rabbitMq), AutomaticRecoveryEnabled = true, NetworkRecoveryInterval = TimeSpan.FromMilliseconds(500),
            // A connection a black-holed port cut off is given up and recovered within seconds, as the worker's is.
            RequestedHeartbeat = TimeSpan.FromSeconds(5),
        };
        var connection = clusterNodes is null
            ? await factory.CreateConnectionAsync()
            : await factory.CreateConnectionAsync(clusterNodes.Select(node => new AmqpTcpEndpoint(new Uri(node))).ToList());
        var channel = await connection.CreateChannelAsync();
        var arguments = clusterNodes is null ? null : new Dictionary<string, object?> { ["x-queue-type"] = "quorum" };
        var queue = durableQueue is null
            ? (await channel.QueueDeclareAsync(exclusive: true, autoDelete: true)).QueueName
            : (await channel.QueueDeclareAsync(durableQueue, durable: true, exclusive: false, autoDelete: false, arguments)).QueueName;
        foreach (var exchange in exchanges)
        {
            // Declared as the worker declares them, so binding works before the worker has published anything.
            await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true);
            await channel.QueueBindAsync(queue, exchange, routingKey: "");
        }
        var listener = new ResultListener(connection, channel);
        var consumer = new AsyncEventingBasicConsumer(channel);
        // A durable queue's results are acknowledged once recorded. With automatic acknowledgement the broker forgets a
        // result as it sends it, so whatever was still on its way when a test restarted the broker was gone (one
        // run missed 308 results of commands that had all been applied).
        var manualAck = durableQueue is not null;
        consumer.ReceivedAsync += async (_, delivery) =>
        {
            var json = JsonDocument.Parse(delivery.Body).RootElement.Clone();
            var correlationId = json.TryGetProperty("correlationId", out var id) && id.ValueKind == JsonValueKind.String
                ? id.GetString()! : "";
            var list = listener._byCorrelationId.GetOrAdd(correlationId, _ => []);
            var result = new ReceivedResult(delivery.Exchange, json, delivery.BasicProperties) { Raw = delivery.Body.ToArray() };
            lock (list) list.Add(result);
            if (json.TryGetProperty("commandMessageId", out var command) && command.TryGetGuid(out var messageId))
                listener._byCommand.TryAdd(messageId, result);
            if (!manualAck) return;
            try
            {
                await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false);
            }
            catch (Exception e) when (e is RabbitMQ.Client.Exceptions.AlreadyClosedException
                                           or RabbitMQ.Client.Exceptions.OperationInterruptedException)
            {
                // The broker went down first: it delivers the result again, and a copy is recorded like the first.
            }
        };
        await channel.BasicConsumeAsync(queue, autoAck: !manualAck, consumer);
        return listener;
    }

    /// <summary>Waits for the first result with this correlation id.</summary>
    public async Task<ReceivedResult> WaitForAsync(string correlationId, TimeSpan? timeout = null) =>
        (await WaitForAsync(correlationId, 1, timeout))[0];

    public async Task<IReadOnlyList<ReceivedResult>> WaitForAsync(string correlationId, int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (DateTime.UtcNow < deadline)
        {
            var results = ResultsFor(correlationId);
            if (results.Count >= count) return results;
            await Task.Delay(20);
        }
        throw new TimeoutException($"{count} result(s) for correlation id '{correlationId}' did not arrive; got {ResultsFor(correlationId).Count}");
    }

    /// <summary>The first result for the command with this message id, whatever correlation id it carried.</summary>
    public async Task<ReceivedResult> WaitForCommandAsync(Guid messageId, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (DateTime.UtcNow < deadline)
        {
            if (_byCommand.TryGetValue(messageId, out var result)) return result;
            await Task.Delay(20);
        }
        throw new TimeoutException($"no result for command {messageId}");
    }

    /// <summary>How many results arrived for each of these correlation ids.</summary>
    public int CountMissing(IEnumerable<string> correlationIds, int each) =>
        correlationIds.Count(id => ResultsFor(id).Count < each);

    public IReadOnlyList<ReceivedResult> ResultsFor(string correlationId)
    {
        if (!_byCorrelationId.TryGetValue(correlationId, out var list)) return [];
        lock (list) return list.ToList();
    }

    public async ValueTask DisposeAsync()
    {
        await _channel.CloseAsync();
        await _connection.CloseAsync();
    }
}
