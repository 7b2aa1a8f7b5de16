using MassTransit;
using Worker.Health;

namespace Worker.Messaging;

/// <summary>
/// While the database or the broker is away, a delivery goes no further than here until it is back: the worker takes
/// no new command into its lanes, and the broker, whose prefetch window the held deliveries fill, sends no more. They
/// stay unacknowledged, so nothing is lost should the worker stop meanwhile, and they go on in delivery order.
/// </summary>
public sealed class IntakePause(DependencyOutages outages) : IFilter<ConsumeContext>
{
    public async Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        if (outages.AnyAway) await outages.WaitUntilAllBackAsync(context.CancellationToken);
        await next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("intakePause");
}
