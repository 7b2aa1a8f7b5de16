using MassTransit;

namespace Worker.Messaging;

/// <summary>
/// Gives each command its place in the <see cref="CommandLanes"/>, in the order the broker delivered them (see
/// <see cref="DeliveryOrder"/>), and hands it to the consumer with the place as a payload. A place the consumer did
/// not use (the command was refused before reaching the store, or failed) is given up afterwards.
/// </summary>
public sealed class DocumentOrderFilter<TCommand>(DeliveryOrder order, CommandLanes lanes, PartitionBalancer partitions,
    Func<TCommand, string> documentKey)
    : IFilter<ConsumeContext>
    where TCommand : class
{
    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        partitions.Observe(context.ReceiveContext);
        var key = context.TryGetMessage<TCommand>(out var command) ? documentKey(command.Message) : "";
        var ticket = await order.EnterAsync(context, key, context.CancellationToken);
        try
        {
            context.GetOrAddPayload(() => ticket);
            await next.Send(context);
        }
        finally
        {
            lanes.Release(ticket);
        }
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("documentOrder");
}
