using MassTransit;
using MassTransit.RabbitMqTransport;

namespace Worker.Messaging;

/// <summary>
/// Puts the commands of one document back into the order the broker delivered them. MassTransit hands deliveries
/// to concurrent tasks, so two commands for one document can reach the consumer in either order; RabbitMQ numbers
/// the deliveries of a channel (the delivery tag) 1, 2, 3, ..., which gives the true order. Commands are admitted in
/// delivery-tag order into one queue per document stripe, and each runs only after the one before it in its stripe
/// has finished, retries included.
/// Delivery tags are counted per channel, so deliveries are told apart by consumer tag as well.
/// </summary>
public sealed class DeliveryOrder(int stripes)
{
    /// <summary>How long a delivery waits for one with a lower tag that never comes.</summary>
    static readonly TimeSpan GapTimeout = TimeSpan.FromMilliseconds(250);

    readonly Lock _gate = new();
    readonly (Task Done, string Channel)[] _tails = Enumerable.Repeat((Task.CompletedTask, ""), stripes).ToArray();
    readonly Dictionary<string, ChannelDeliveries> _channels = [];
    readonly Dictionary<Uri, string> _currentChannel = [];

    sealed class ChannelDeliveries(ulong next)
    {
        public ulong Next = next;

        /// <summary>Set once a newer consumer took over the queue: the channel is gone.</summary>
        public bool Interrupted;
        public readonly SortedDictionary<ulong, Arrival?> Arrived = [];
    }

    /// <summary>A delivery that entered, waiting for its turn; null for one that passed without entering.</summary>
    sealed record Arrival(int Stripe, string Channel, TaskCompletionSource Done, TaskCompletionSource<(Task, string)> Admitted);

    /// <summary>
    /// Returns once every earlier command of the same stripe has finished. <paramref name="done"/> must be completed
    /// when this command is finished, whatever happens to it.
    /// </summary>
    public async Task EnterAsync(ConsumeContext context, string documentKey, TaskCompletionSource done,
        CancellationToken cancellationToken)
    {
        var stripe = (int)((uint)StableHash(documentKey) % (uint)_tails.Length);
        if (!context.ReceiveContext.TryGetPayload(out RabbitMqBasicConsumeContext? rabbit))
        {
            await Admit(stripe, "", done).Done.WaitAsync(cancellationToken);
            return;
        }
        NoteChannel(context.ReceiveContext.InputAddress, rabbit.ConsumerTag);

        var arrival = new Arrival(stripe, rabbit.ConsumerTag, done,
            new TaskCompletionSource<(Task, string)>(TaskCreationOptions.RunContinuationsAsynchronously));
        Arrive(rabbit.ConsumerTag, rabbit.DeliveryTag, arrival);
        var admitted = arrival.Admitted.Task;
        if (await Task.WhenAny(admitted, Task.Delay(GapTimeout, cancellationToken)) != admitted)
        {
            // An earlier delivery never arrived (it failed before this point): stop waiting for it.
            SkipGapsUpTo(rabbit.ConsumerTag, rabbit.DeliveryTag);
        }
        var (previous, previousChannel) = await admitted;
        while (!previous.IsCompleted)
        {
            await Task.WhenAny(previous, Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
            // Waiting on would only keep MassTransit from reconnecting: the broker delivers this again anyway.
            if (IsChannelGone(context))
                throw new OperationCanceledException("The channel of this delivery is gone; it will be delivered again");
            // A command of a channel that is gone may hang on its acknowledgement for good; what it did is in the
            // inbox, and its delivery comes again on this channel, ahead of this one.
            if (previousChannel != rabbit.ConsumerTag && IsChannelInterrupted(previousChannel)) break;
        }
    }

    // A new consumer on a queue means the channel of the previous one is gone.
    void NoteChannel(Uri queue, string consumerTag)
    {
        lock (_gate)
        {
            if (_currentChannel.TryGetValue(queue, out var current) && current == consumerTag) return;
            if (current is not null && _channels.TryGetValue(current, out var old)) old.Interrupted = true;
            _currentChannel[queue] = consumerTag;
        }
    }

    bool IsChannelInterrupted(string consumerTag)
    {
        lock (_gate) return _channels.TryGetValue(consumerTag, out var deliveries) && deliveries.Interrupted;
    }

    /// <summary>
    /// Whether the channel of this delivery is closed, or a newer consumer took over its queue: such a delivery can
    /// no longer be acknowledged and will be delivered again.
    /// </summary>
    public bool IsChannelGone(ConsumeContext context)
    {
        if (!context.ReceiveContext.TryGetPayload(out RabbitMqBasicConsumeContext? rabbit)) return false;
        if (context.ReceiveContext.TryGetPayload(out ChannelContext? channel) && !channel.Channel.IsOpen) return true;
        return IsChannelInterrupted(rabbit.ConsumerTag);
    }

    /// <summary>A failure that says the delivery was cut off, not that the command is wrong.</summary>
    public static bool IsInterruption(Exception exception, CancellationToken cancellationToken) =>
        cancellationToken.IsCancellationRequested
        || exception is OperationCanceledException or RabbitMQ.Client.Exceptions.AlreadyClosedException
            or RabbitMQ.Client.Exceptions.OperationInterruptedException
        || exception is AggregateException aggregate && aggregate.InnerExceptions.Any(e => IsInterruption(e, default))
        || exception.InnerException is { } inner && IsInterruption(inner, default);

    /// <summary>Records a delivery that will never enter (it could not be read), so later ones need not wait for it.</summary>
    public void Pass(ReceiveContext context)
    {
        if (context.TryGetPayload(out RabbitMqBasicConsumeContext? rabbit))
        {
            NoteChannel(context.InputAddress, rabbit.ConsumerTag);
            Arrive(rabbit.ConsumerTag, rabbit.DeliveryTag, null);
        }
    }

    void Arrive(string consumerTag, ulong deliveryTag, Arrival? arrival)
    {
        lock (_gate)
        {
            // A channel numbers its deliveries from 1; the first to arrive here need not be the first delivered.
            if (!_channels.TryGetValue(consumerTag, out var channel))
                _channels[consumerTag] = channel = new ChannelDeliveries(1);
            if (deliveryTag < channel.Next)
            {
                // It arrived after we stopped waiting for it: the best left is the back of its stripe.
                arrival?.Admitted.TrySetResult(Admit(arrival.Stripe, arrival.Channel, arrival.Done));
                return;
            }
            channel.Arrived[deliveryTag] = arrival;
            Drain(channel);
        }
    }

    void SkipGapsUpTo(string consumerTag, ulong deliveryTag)
    {
        lock (_gate)
        {
            if (!_channels.TryGetValue(consumerTag, out var channel) || channel.Next >= deliveryTag) return;
            channel.Next = channel.Arrived.Keys.First();
            Drain(channel);
        }
    }

    // Admits arrived deliveries in tag order up to the first gap.
    void Drain(ChannelDeliveries channel)
    {
        while (channel.Arrived.Count > 0)
        {
            var (tag, arrival) = channel.Arrived.First();
            if (tag != channel.Next) return;
            channel.Arrived.Remove(tag);
            channel.Next = tag + 1;
            arrival?.Admitted.TrySetResult(Admit(arrival.Stripe, arrival.Channel, arrival.Done));
        }
    }

    // Appends to the stripe's queue: returns what to wait for, and makes the next command wait for this one.
    (Task Done, string Channel) Admit(int stripe, string channel, TaskCompletionSource done)
    {
        lock (_gate)
        {
            var previous = _tails[stripe];
            _tails[stripe] = (done.Task, channel);
            return previous;
        }
    }

    // string.GetHashCode is randomised per process; any stable hash will do, it only picks a stripe.
    static int StableHash(string key)
    {
        var hash = 2166136261u;
        foreach (var c in key) hash = (hash ^ c) * 16777619u;
        return (int)hash;
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
        order.Pass(context);
        return Task.CompletedTask;
    }
}
