using System.Runtime.CompilerServices;
using MassTransit;
using MassTransit.RabbitMqTransport;
using RabbitMQ.Client;

namespace Worker.Messaging;

/// <summary>
/// Hands out places in the <see cref="CommandLanes"/> in the order the broker delivered the commands. MassTransit
/// hands deliveries to concurrent tasks, so two commands for one document can reach the consumer in either order;
/// RabbitMQ numbers the deliveries of a channel (the delivery tag) 1, 2, 3, ..., which gives the true order.
/// <para>
/// No timer decides order here. A delivery waits for every lower tag of its channel, and each of those is accounted
/// for: it takes its place, or is recorded as never entering (<see cref="SettleDeliveryFilter"/> sees every delivery
/// end), or its channel is given up. A channel is given up when it closes, when a newer channel takes over its queue,
/// when one of its deliveries is handed back to the broker unacknowledged (see <see cref="GiveBackAsync"/>), or when an
/// earlier delivery has not come within <see cref="GapLimit"/>; then none of its deliveries still waiting or still to
/// come is applied, the channel is closed, and the broker delivers them again, in order.
/// </para>
/// Deliveries are told apart by the channel they came on, not by consumer tag: MassTransit 8.5 hands over a new
/// consumer's first deliveries before the broker's consume-ok, without a tag.
/// </summary>
public sealed class DeliveryOrder(CommandLanes lanes, Worker.Health.DependencyOutages outages, ILogger<DeliveryOrder> logger)
{
    /// <summary>
    /// How long a delivery waits for an earlier one of its channel that does not come (MassTransit drops deliveries
    /// that reach a consumer while it stops, without acknowledging them). This decides no order: the channel is then
    /// given back whole.
    /// </summary>
    static readonly TimeSpan GapLimit = TimeSpan.FromSeconds(10);

    readonly Lock _gate = new();
    readonly ConditionalWeakTable<IChannel, ChannelDeliveries> _channels = new();
    readonly Dictionary<string, IChannel> _currentChannel = [];

    sealed class ChannelDeliveries
    {
        public ulong Next = 1;
        /// <summary>Set once the channel is given up: its deliveries come again on another.</summary>
        public volatile bool Gone;
        /// <summary>Deliveries waiting for a lower tag; null for one that passed without taking a place.</summary>
        public readonly SortedDictionary<ulong, Arrival?> Arrived = [];
    }

    sealed record Arrival(string DocumentKey, Func<bool> IsGone, TaskCompletionSource<CommandTicket> Placed);

    /// <summary>
    /// Returns the command's place in its lane once every delivery before it on its channel is accounted for; throws
    /// <see cref="DeliveryGoneException"/> when its channel is given up first.
    /// </summary>
    public async Task<CommandTicket> EnterAsync(ConsumeContext context, string documentKey)
    {
        if (Delivery(context.ReceiveContext) is not var (channel, deliveryTag)) return lanes.Issue(documentKey);
        Arrival arrival;
        lock (_gate)
        {
            var deliveries = Note(context.ReceiveContext.InputAddress, channel, deliveryTag);
            // A tag already accounted for would wait for ever: such a delivery goes back, with its channel.
            if (deliveries.Gone || deliveryTag < deliveries.Next || deliveries.Arrived.ContainsKey(deliveryTag))
                throw new DeliveryGoneException();
            arrival = new Arrival(documentKey, () => deliveries.Gone || !channel.IsOpen,
                new TaskCompletionSource<CommandTicket>(TaskCreationOptions.RunContinuationsAsynchronously));
            deliveries.Arrived[deliveryTag] = arrival;
            Drain(deliveries);
        }
        while (true)
        {
            try
            {
                return await arrival.Placed.Task.WaitAsync(GapLimit);
            }
            catch (TimeoutException) when (outages.AnyAway)
            {
                // The earlier delivery waits out the outage in IntakePause, as this one would have a moment later.
            }
            catch (TimeoutException)
            {
                // A delivery before it never came. Going on without it would let it come back later, behind this
                // one; the channel goes back instead, and the broker delivers all of it again, in order.
                await GiveBackAsync(context.ReceiveContext, $"delivery {deliveryTag} waited {GapLimit.TotalSeconds:F0} s for an earlier one");
                throw new DeliveryGoneException();
            }
        }
    }

    /// <summary>Records a delivery that ended without entering (it could not be read), so later ones need not wait for it.</summary>
    public void NeverEnters(ReceiveContext context)
    {
        if (Delivery(context) is not var (channel, deliveryTag)) return;
        lock (_gate)
        {
            var deliveries = Note(context.InputAddress, channel, deliveryTag);
            if (deliveries.Gone || deliveryTag < deliveries.Next || deliveries.Arrived.ContainsKey(deliveryTag)) return;
            deliveries.Arrived[deliveryTag] = null;
            Drain(deliveries);
        }
    }

    /// <summary>
    /// The delivery goes back to the broker unacknowledged, to come again after the deliveries that followed it on
    /// its channel. So that none of those is applied before it, the channel is given up and closed: the broker then
    /// delivers all of them again, in their order.
    /// </summary>
    public async Task GiveBackAsync(ReceiveContext context, string why = "it goes back to the broker")
    {
        if (Delivery(context) is not var (channel, deliveryTag)) return;
        lock (_gate)
        {
            var deliveries = Of(channel);
            // Debug for a channel closed already (a lost connection): the outage is told once, by DependencyOutages.
            if (!deliveries.Gone)
                logger.Log(channel.IsOpen ? LogLevel.Information : LogLevel.Debug, "{Queue}: channel {Channel} is given up " +
                    "with {Waiting} deliveries waiting, so that they come again in order: {Why}", context.InputAddress.AbsolutePath,
                    channel.ChannelNumber, GiveUp(deliveries), why);
        }
        // Also a channel given up before, when a newer one took over its queue: what it still holds comes again now.
        if (channel.IsOpen)
        {
            try
            {
                await channel.AbortAsync();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Closing anyway.
                logger.LogDebug(e, "Closing channel {Channel} failed", channel.ChannelNumber);
            }
        }
    }

    /// <summary>
    /// Whether the channel of this delivery is closed or given up: such a delivery can no longer be acknowledged and
    /// will be delivered again.
    /// </summary>
    public bool IsChannelGone(ReceiveContext context)
    {
        if (Delivery(context) is not var (channel, _)) return false;
        return !channel.IsOpen || _channels.TryGetValue(channel, out var deliveries) && deliveries.Gone;
    }

    /// <summary>A failure that says the delivery was cut off, not that the command is wrong.</summary>
    public static bool IsInterruption(Exception exception, CancellationToken cancellationToken) =>
        cancellationToken.IsCancellationRequested
        || exception is OperationCanceledException or RabbitMQ.Client.Exceptions.AlreadyClosedException
            or RabbitMQ.Client.Exceptions.OperationInterruptedException or RabbitMqConnectionException
            or TransportUnavailableException
        || exception is AggregateException aggregate && aggregate.InnerExceptions.Any(e => IsInterruption(e, default))
        || exception.InnerException is { } inner && IsInterruption(inner, default);

    /// <summary>The channel a delivery came on, and its tag there; null outside RabbitMQ.</summary>
    static (IChannel Channel, ulong DeliveryTag)? Delivery(ReceiveContext context) =>
        context.TryGetPayload(out RabbitMqBasicConsumeContext? rabbit) && context.TryGetPayload(out ChannelContext? channel)
            ? (channel.Channel, rabbit.DeliveryTag)
            : null;

    // A closed channel is gone. A new channel on a queue means the one before it is gone: MassTransit consumes a queue
    // on one channel at a time, and a channel seen for the first time while open is the newest.
    ChannelDeliveries Note(Uri queue, IChannel channel, ulong deliveryTag)
    {
        var deliveries = Of(channel);
        if (deliveries.Gone) return deliveries;
        if (!channel.IsOpen)
        {
            logger.LogDebug("{Queue}: delivery {DeliveryTag} came on channel {Channel}, which is closed; " +
                "{Waiting} deliveries of that channel come again", queue.AbsolutePath, deliveryTag, channel.ChannelNumber,
                GiveUp(deliveries));
            return deliveries;
        }
        var key = queue.AbsolutePath;
        if (_currentChannel.TryGetValue(key, out var current) && ReferenceEquals(current, channel)) return deliveries;
        var waiting = current is not null && _channels.TryGetValue(current, out var old) && !old.Gone ? GiveUp(old) : 0;
        // Debug: a broker that comes back has every queue take a new channel, one line each; the outage is told once.
        logger.LogDebug("{Queue}: channel {Channel} takes over at delivery {DeliveryTag}; {Waiting} deliveries of " +
            "the previous one come again", key, channel.ChannelNumber, deliveryTag, waiting);
        _currentChannel[key] = channel;
        return deliveries;
    }

    // A channel that closes takes the deliveries it had not yet handed over with it (MassTransit drops them once it
    // stops consuming), so the ones waiting for them are given up as it closes, not when a newer channel shows up: the
    // old consumer waits for its deliveries in progress before the next one starts.
    ChannelDeliveries Of(IChannel channel) => _channels.GetValue(channel, _ =>
    {
        var deliveries = new ChannelDeliveries();
        channel.ChannelShutdownAsync += (_, reason) =>
        {
            lock (_gate)
            {
                if (!deliveries.Gone && deliveries.Arrived.Count > 0)
                    logger.LogDebug("Channel {Channel} closed ({Reason}); {Waiting} deliveries waiting on it come again",
                        channel.ChannelNumber, reason.ReplyText, GiveUp(deliveries));
                deliveries.Gone = true;
            }
            return Task.CompletedTask;
        };
        return deliveries;
    });

    static int GiveUp(ChannelDeliveries deliveries)
    {
        deliveries.Gone = true;
        var waiting = deliveries.Arrived.Count;
        foreach (var arrival in deliveries.Arrived.Values) arrival?.Placed.TrySetException(new DeliveryGoneException());
        deliveries.Arrived.Clear();
        return waiting;
    }

    // Places arrived deliveries in tag order up to the first one not yet accounted for.
    void Drain(ChannelDeliveries channel)
    {
        while (channel.Arrived.Count > 0)
        {
            var (tag, arrival) = channel.Arrived.First();
            if (tag != channel.Next) return;
            channel.Arrived.Remove(tag);
            channel.Next = tag + 1;
            arrival?.Placed.TrySetResult(lanes.Issue(arrival.DocumentKey, arrival.IsGone));
        }
    }
}
