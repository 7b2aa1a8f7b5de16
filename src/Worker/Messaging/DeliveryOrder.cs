using MassTransit;
using MassTransit.RabbitMqTransport;
using RabbitMQ.Client;

namespace Worker.Messaging;

/// <summary>
/// Hands out places in the <see cref="CommandLanes"/> in the order the broker delivered the commands. MassTransit
/// hands deliveries to concurrent tasks, so two commands for one document can reach the consumer in either order;
/// RabbitMQ numbers the deliveries of a channel (the delivery tag) 1, 2, 3, ..., which gives the true order.
/// Delivery tags are counted per channel, so deliveries are told apart by the channel they came on. (Not by consumer
/// tag: MassTransit 8.5 hands over a new consumer's first deliveries before the broker's consume-ok, without a tag,
/// and asks for the same tag again on the next channel after a reconnect. Keyed by consumer tag, the first failed
/// here and came again after later commands for their document: 1 broker-restart run in 30.)
/// </summary>
public sealed class DeliveryOrder(CommandLanes lanes, ILogger<DeliveryOrder> logger)
{
    /// <summary>How long a delivery waits for one with a lower tag that never comes.</summary>
    static readonly TimeSpan GapTimeout = TimeSpan.FromMilliseconds(250);

    readonly Lock _gate = new();
    readonly Dictionary<object, ChannelDeliveries> _channels = new(ReferenceEqualityComparer.Instance);
    readonly Dictionary<Uri, object> _currentChannel = [];

    sealed class ChannelDeliveries(ulong next)
    {
        public ulong Next = next;

        /// <summary>Set once a newer channel took over the queue, or this one closed: it is gone.</summary>
        public bool Interrupted;
        public readonly SortedDictionary<ulong, Arrival?> Arrived = [];
    }

    /// <summary>A delivery waiting for its place; null for one that passed without taking one.</summary>
    sealed record Arrival(string DocumentKey, TaskCompletionSource<CommandTicket> Placed);

    /// <summary>Returns the command's place in its lane once every delivery before it on its channel has one.</summary>
    public async Task<CommandTicket> EnterAsync(ConsumeContext context, string documentKey,
        CancellationToken cancellationToken)
    {
        if (Delivery(context.ReceiveContext) is not var (channel, deliveryTag)) return lanes.Issue(documentKey);
        NoteChannel(context.ReceiveContext.InputAddress, channel, deliveryTag);

        var arrival = new Arrival(documentKey,
            new TaskCompletionSource<CommandTicket>(TaskCreationOptions.RunContinuationsAsynchronously));
        Arrive(channel, deliveryTag, arrival);
        var placed = arrival.Placed.Task;
        // Most deliveries arrive in order and are placed at once: no timer for them.
        if (placed.IsCompleted) return await placed;
        if (await Task.WhenAny(placed, Task.Delay(GapTimeout, cancellationToken)) != placed)
        {
            // An earlier delivery never arrived (it failed before this point): stop waiting for it.
            SkipGapsUpTo(channel, deliveryTag);
        }
        return await placed;
    }

    /// <summary>The channel a delivery came on, and its tag there; null outside RabbitMQ.</summary>
    static (IChannel Channel, ulong DeliveryTag)? Delivery(ReceiveContext context) =>
        context.TryGetPayload(out RabbitMqBasicConsumeContext? rabbit) && context.TryGetPayload(out ChannelContext? channel)
            ? (channel.Channel, rabbit.DeliveryTag)
            : null;

    // A new channel on a queue means the previous one is gone. A delivery that straggles in from an older channel
    // after that (its tag already known, or its channel closed) changes nothing.
    void NoteChannel(Uri queue, IChannel channel, ulong deliveryTag)
    {
        lock (_gate)
        {
            if (_currentChannel.TryGetValue(queue, out var current) && ReferenceEquals(current, channel)) return;
            if (!channel.IsOpen)
            {
                if (!_channels.TryGetValue(channel, out var closed)) _channels[channel] = closed = new ChannelDeliveries(1);
                if (!closed.Interrupted)
                    logger.LogInformation("{Queue}: delivery {DeliveryTag} came on channel {Channel}, which is closed; " +
                        "{Waiting} deliveries of that channel stop waiting for their turn", queue.AbsolutePath, deliveryTag,
                        channel.ChannelNumber, Interrupt(closed));
                return;
            }
            if (_channels.ContainsKey(channel)) return;
            var waiting = current is not null && _channels.TryGetValue(current, out var old) ? Interrupt(old) : 0;
            logger.LogInformation("{Queue}: channel {Channel} takes over at delivery {DeliveryTag}; {Waiting} deliveries of " +
                "the previous one stop waiting for their turn", queue.AbsolutePath, channel.ChannelNumber, deliveryTag, waiting);
            _currentChannel[queue] = channel;
        }
    }

    // Its deliveries come again on a new channel; nothing on this one is waited for any more.
    int Interrupt(ChannelDeliveries channel)
    {
        channel.Interrupted = true;
        var waiting = channel.Arrived.Count;
        foreach (var arrival in channel.Arrived.Values) arrival?.Placed.TrySetResult(lanes.Issue(arrival.DocumentKey));
        channel.Arrived.Clear();
        return waiting;
    }

    /// <summary>
    /// Whether the channel of this delivery is closed, or a newer channel took over its queue: such a delivery can
    /// no longer be acknowledged and will be delivered again.
    /// </summary>
    public bool IsChannelGone(ConsumeContext context) => IsChannelGone(context.ReceiveContext);

    /// <inheritdoc cref="IsChannelGone(ConsumeContext)"/>
    public bool IsChannelGone(ReceiveContext context)
    {
        if (Delivery(context) is not var (channel, _)) return false;
        if (!channel.IsOpen) return true;
        lock (_gate) return _channels.TryGetValue(channel, out var deliveries) && deliveries.Interrupted;
    }

    /// <summary>A failure that says the delivery was cut off, not that the command is wrong.</summary>
    public static bool IsInterruption(Exception exception, CancellationToken cancellationToken) =>
        cancellationToken.IsCancellationRequested
        || exception is OperationCanceledException or RabbitMQ.Client.Exceptions.AlreadyClosedException
            or RabbitMQ.Client.Exceptions.OperationInterruptedException or RabbitMqConnectionException
            or TransportUnavailableException
        || exception is AggregateException aggregate && aggregate.InnerExceptions.Any(e => IsInterruption(e, default))
        || exception.InnerException is { } inner && IsInterruption(inner, default);

    /// <summary>Records a delivery that will never enter (it could not be read), so later ones need not wait for it.</summary>
    public void NeverEnters(ReceiveContext context)
    {
        if (Delivery(context) is not var (channel, deliveryTag)) return;
        NoteChannel(context.InputAddress, channel, deliveryTag);
        Arrive(channel, deliveryTag, null);
    }

    void Arrive(IChannel channel, ulong deliveryTag, Arrival? arrival)
    {
        lock (_gate)
        {
            // A channel numbers its deliveries from 1; the first to arrive here need not be the first delivered.
            if (!_channels.TryGetValue(channel, out var deliveries))
                _channels[channel] = deliveries = new ChannelDeliveries(1);
            if (deliveryTag < deliveries.Next || deliveries.Interrupted)
            {
                // It arrived after we stopped waiting for it: the best left is the back of its lane.
                arrival?.Placed.TrySetResult(lanes.Issue(arrival.DocumentKey));
                return;
            }
            deliveries.Arrived[deliveryTag] = arrival;
            Drain(deliveries);
        }
    }

    void SkipGapsUpTo(IChannel channel, ulong deliveryTag)
    {
        lock (_gate)
        {
            if (!_channels.TryGetValue(channel, out var deliveries) || deliveries.Next >= deliveryTag
                || deliveries.Arrived.Count == 0) return;
            deliveries.Next = deliveries.Arrived.Keys.First();
            Drain(deliveries);
        }
    }

    // Places arrived deliveries in tag order up to the first gap.
    void Drain(ChannelDeliveries channel)
    {
        while (channel.Arrived.Count > 0)
        {
            var (tag, arrival) = channel.Arrived.First();
            if (tag != channel.Next) return;
            channel.Arrived.Remove(tag);
            channel.Next = tag + 1;
            arrival?.Placed.TrySetResult(lanes.Issue(arrival.DocumentKey));
        }
    }
}

/// <summary>Tells <see cref="DeliveryOrder"/> about deliveries that failed before reaching it.</summary>
public sealed class DeliveryOrderObserver(DeliveryOrder order) : IReceiveObserver
{
    public Task PreReceive(ReceiveContext context) => Task.CompletedTask;
    public Task PostReceive(ReceiveContext context) => Task.CompletedTask;

    public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType) where T : class =>
        Task.CompletedTask;

    public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception)
        where T : class => Task.CompletedTask;

    public Task ReceiveFault(ReceiveContext context, Exception exception)
    {
        order.NeverEnters(context);
        return Task.CompletedTask;
    }
}
