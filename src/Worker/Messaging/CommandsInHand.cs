using System.Collections.Concurrent;
using MassTransit;

namespace Worker.Messaging;

/// <summary>
/// The deliveries this worker is handling and since when, for the <see cref="StuckCommandWatchdog"/>; kept by
/// <see cref="SettleDeliveryFilter"/>, which every delivery passes.
/// </summary>
public sealed class CommandsInHand
{
    readonly ConcurrentDictionary<ReceiveContext, DateTime> _inHand = new();

    /// <summary>Since when the oldest delivery still being handled has been in hand; null when none is.</summary>
    public DateTime? OldestSince => _inHand.IsEmpty ? null : _inHand.Values.DefaultIfEmpty(DateTime.MaxValue).Min();

    /// <summary>How many deliveries are in hand.</summary>
    public int Count => _inHand.Count;

    public void Take(ReceiveContext context) => _inHand[context] = DateTime.UtcNow;

    public void Done(ReceiveContext context) => _inHand.TryRemove(context, out _);
}
