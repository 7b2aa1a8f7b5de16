using RabbitMQ.Client;

namespace Worker.Messaging;

/// <summary>
/// Asks the broker how many commands wait in a queue, on a connection of its own, so that the answer does not
/// depend on the bus it is used to check.
/// </summary>
public sealed class QueueProbe(Uri broker) : IAsyncDisposable
{
    IConnection? _connection;
    IChannel? _channel;

    /// <summary>Ready messages and consumers of the queue; null when the broker cannot be asked just now.</summary>
    public async Task<(uint Ready, uint Consumers)?> DepthAsync(string queue, CancellationToken cancellationToken)
    {
        try
        {
            _connection ??= await new ConnectionFactory { Uri = broker, ClientProvidedName = "worker-queue-probe" }
                .CreateConnectionAsync(cancellationToken);
            _channel ??= await _connection.CreateChannelAsync(cancellationToken: cancellationToken);
            var queueState = await _channel.QueueDeclarePassiveAsync(queue, cancellationToken);
            return (queueState.MessageCount, queueState.ConsumerCount);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // A broker that is down is the bus health's concern; start over with a fresh connection next time.
            await DisposeAsync();
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        var (channel, connection) = (_channel, _connection);
        (_channel, _connection) = (null, null);
        try
        {
            if (channel is not null) await channel.DisposeAsync();
            if (connection is not null) await connection.DisposeAsync();
        }
        catch (Exception)
        {
            // Already broken; nothing to give back.
        }
    }
}
