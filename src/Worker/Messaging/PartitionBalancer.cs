using System.Collections.Concurrent;
using MassTransit;
using MassTransit.RabbitMqTransport;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;

namespace Worker.Messaging;

/// <summary>
/// Shares the partitions among the worker instances. The broker makes the first instance to consume a
/// single-active-consumer queue its active consumer, so an instance that started first would keep every partition.
/// Every instance consumes every partition, so a partition's consumer count is the number of instances; an
/// instance that is busy on more partitions of an operation than its share (partitions / instances, rounded up)
/// steps back from one at a time: it drops its channel for that partition, the broker puts the commands it held back
/// at the head and makes the next instance the partition's active consumer, and MassTransit consumes the partition
/// again, now as a standby.
/// </summary>
/// <remarks>
/// Dropping the channel, not cancelling the consumer, is what keeps the order. A cancelled consumer keeps the commands
/// it holds while the next instance already takes the ones after them; a dropped channel hands them all over, in order.
/// Should the stepping-back instance still commit one of them, the next instance finds it in the inbox and answers it
/// from there before it applies anything later for that document (its lanes take a document's commands in order).
/// </remarks>
public sealed partial class PartitionBalancer(IOptions<MessagingOptions> options, TimeProvider time,
    ILogger<PartitionBalancer> logger)
{
    readonly MessagingOptions _options = options.Value;
    readonly ConcurrentDictionary<string, Partition> _partitions = new();
    readonly ConcurrentDictionary<string, Operation> _operations = new();

    sealed class Partition
    {
        public long LastDelivery;
        public long LastCheck;
    }

    sealed class Operation
    {
        public long LastStepBack;
        public readonly Lock Gate = new();
    }

    /// <summary>
    /// Notes a delivery on a partition queue. Every <see cref="MessagingOptions.RebalanceInterval"/> per partition it
    /// also counts, in the background, the instances and the partitions this one is busy on, and steps back from
    /// this partition if that is more than its share.
    /// </summary>
    public void Observe(ReceiveContext context)
    {
        var queue = context.InputAddress.Segments[^1].TrimEnd('/');
        var operation = CommandPartitions.OperationQueueOf(queue);
        if (operation == queue) return;
        var now = time.GetTimestamp();
        var partition = _partitions.GetOrAdd(queue, _ => new Partition());
        Volatile.Write(ref partition.LastDelivery, now);
        var last = Volatile.Read(ref partition.LastCheck);
        if (last != 0 && time.GetElapsedTime(last, now) < _options.RebalanceInterval) return;
        if (Interlocked.CompareExchange(ref partition.LastCheck, now, last) != last) return;
        if (!context.TryGetPayload(out ChannelContext? channel) || !context.TryGetPayload(out ConnectionContext? connection)) return;
        // Not on the delivery's way, and not on its channel: a broker round trip from inside a delivery would hold it up.
        _ = Task.Run(() => CheckAsync(queue, operation, partition, channel.Channel, connection.Connection));
    }

    async Task CheckAsync(string queue, string operation, Partition partition, IChannel consuming, IConnection connection)
    {
        try
        {
            uint instances;
            await using (var channel = await connection.CreateChannelAsync())
                instances = (await channel.QueueDeclarePassiveAsync(queue)).ConsumerCount;
            if (instances < 2 || !consuming.IsOpen) return;
            var share = (_options.Partitions + (int)instances - 1) / (int)instances;
            var now = time.GetTimestamp();
            var busy = _partitions.Count(p => CommandPartitions.OperationQueueOf(p.Key) == operation
                && time.GetElapsedTime(Volatile.Read(ref p.Value.LastDelivery), now) < _options.RebalanceInterval);
            if (busy <= share) return;

            var state = _operations.GetOrAdd(operation, _ => new Operation());
            lock (state.Gate)
            {
                // One partition at a time, so that the next instance has taken it before this one counts again.
                if (state.LastStepBack != 0 && time.GetElapsedTime(state.LastStepBack, now) < _options.RebalanceInterval * 2) return;
                state.LastStepBack = now;
            }
            SteppingBack(queue, busy, (int)instances, share);
            Volatile.Write(ref partition.LastDelivery, 0);
            await consuming.AbortAsync();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The broker or the connection is away: the shares are looked at again with the next commands.
            CheckFailed(queue, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Stepping back from {Partition}: busy on {Busy} partitions of its operation, {Share} each for {Instances} instances")]
    partial void SteppingBack(string partition, int busy, int instances, int share);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Could not compare the share of {Partition}: {Reason}")]
    partial void CheckFailed(string partition, string reason);
}
