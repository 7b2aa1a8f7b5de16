using System.Collections.Concurrent;
using MassTransit;

namespace Worker.Messaging;

/// <summary>
/// Counts, per receive endpoint, the deliveries this worker took and how many are still being handled. The
/// <see cref="BusWatchdog"/> compares these with the queue depth to notice a worker that no longer consumes.
/// </summary>
public sealed class ConsumptionMonitor : IReceiveObserver
{
    sealed class Counters
    {
        public long Delivered;
        public long InFlight;
    }

    readonly ConcurrentDictionary<Uri, Counters> _endpoints = new();
    readonly ConcurrentDictionary<ReceiveContext, DateTime> _inHand = new();

    /// <summary>Since when the oldest delivery still being handled has been in hand; null when none is.</summary>
    public DateTime? OldestInHandSince => _inHand.IsEmpty ? null : _inHand.Values.DefaultIfEmpty(DateTime.MaxValue).Min();

    public (long Delivered, long InFlight) Of(Uri inputAddress) =>
        _endpoints.TryGetValue(inputAddress, out var counters)
            ? (Interlocked.Read(ref counters.Delivered), Interlocked.Read(ref counters.InFlight))
            : (0, 0);

    public Task PreReceive(ReceiveContext context)
    {
        var counters = _endpoints.GetOrAdd(context.InputAddress, _ => new Counters());
        Interlocked.Increment(ref counters.Delivered);
        Interlocked.Increment(ref counters.InFlight);
        _inHand[context] = DateTime.UtcNow;
        return Task.CompletedTask;
    }

    public Task PostReceive(ReceiveContext context) => Done(context);

    public Task ReceiveFault(ReceiveContext context, Exception exception) => Done(context);

    public Task PostConsume<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType) where T : class =>
        Task.CompletedTask;

    public Task ConsumeFault<T>(ConsumeContext<T> context, TimeSpan duration, string consumerType, Exception exception)
        where T : class => Task.CompletedTask;

    Task Done(ReceiveContext context)
    {
        _inHand.TryRemove(context, out _);
        if (_endpoints.TryGetValue(context.InputAddress, out var counters)) Interlocked.Decrement(ref counters.InFlight);
        return Task.CompletedTask;
    }
}
