using MassTransit;

namespace Worker.Messaging;

/// <summary>
/// Runs one command per document at a time, in the order the broker delivered them (see <see cref="DeliveryOrder"/>).
/// It sits ahead of the retries, so a command being retried keeps the later commands for its document waiting.
/// </summary>
public sealed class DocumentOrderFilter<TCommand>(DeliveryOrder order, Func<TCommand, string> documentKey)
    : IFilter<ConsumeContext>
    where TCommand : class
{
    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        var key = context.TryGetMessage<TCommand>(out var command) ? documentKey(command.Message) : "";
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        try
        {
            await order.EnterAsync(context, key, done, context.CancellationToken);
            // The broker delivers this again, in order with the deliveries before it: running it now could overtake them.
            if (order.IsChannelGone(context))
                throw new OperationCanceledException("The channel of this delivery is gone; it will be delivered again");
            await next.Send(context);
        }
        finally
        {
            done.TrySetResult();
        }
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("documentOrder");
}
