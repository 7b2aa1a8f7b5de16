using MassTransit;

namespace Worker.Messaging;

/// <summary>
/// The outermost filter of a command queue's receive pipe: every delivery passes it, whatever becomes of it, so it is
/// where a delivery is settled. A command's document is held for it until here (see <see cref="CommandLanes"/>); a
/// delivery that never took a place lets the later ones of its channel go (<see cref="DeliveryOrder.NeverEnters"/>);
/// and a delivery handed back to the broker unacknowledged gives up its channel first, so that nothing after it is
/// applied before it comes again. It also keeps the deliveries in hand for the <see cref="StuckCommandWatchdog"/>.
/// </summary>
public sealed class SettleDeliveryFilter(DeliveryOrder order, CommandLanes lanes, CommandsInHand inHand) : IFilter<ReceiveContext>
{
    public async Task Send(ReceiveContext context, IPipe<ReceiveContext> next)
    {
        inHand.Take(context);
        try
        {
            await next.Send(context);
        }
        catch (Exception)
        {
            await order.GiveBackAsync(context);
            throw;
        }
        finally
        {
            if (context.TryGetPayload(out CommandTicket? ticket)) lanes.Settle(ticket);
            else order.NeverEnters(context);
            inHand.Done(context);
        }
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("settleDelivery");
}
