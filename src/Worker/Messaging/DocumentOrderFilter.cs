using MassTransit;

namespace Worker.Messaging;

/// <summary>
/// Gives each command its place in the <see cref="CommandLanes"/>, in the order the broker delivered them (see
/// <see cref="DeliveryOrder"/>), and keeps it with the delivery, where the consumer finds it and where
/// <see cref="SettleDeliveryFilter"/> settles it once the delivery is done with.
/// </summary>
public sealed class DocumentOrderFilter<TCommand>(DeliveryOrder order, PartitionBalancer partitions,
    Func<TCommand, string> documentKey)
    : IFilter<ConsumeContext>
    where TCommand : class
{
    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        partitions.Observe(context.ReceiveContext);
        var key = context.TryGetMessage<TCommand>(out var command) ? documentKey(command.Message) : "";
        var ticket = await order.EnterAsync(context, key);
        context.ReceiveContext.GetOrAddPayload(() => ticket);
        await next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("documentOrder");
}
