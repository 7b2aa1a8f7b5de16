using System.Collections.Concurrent;
using MassTransit;

namespace Worker.Messaging;

/// <summary>
/// The deliveries this worker is handling and since when, for the <see cref="StuckCommandWatchdog"/>. It must be
/// the very instance MassTransit feeds (see MessagingSetup): an observer of MassTransit's own making is one no
/// delivery reaches.
/// </summary>
public sealed class CommandsInHand : IReceiveObserver
{
    readonly ConcurrentDictionary<ReceiveContext, DateTime> _inHand = new();

    /// <summary>Since when the oldest delivery still being handled has been in hand; null when none is.</summary>
    public DateTime? OldestSince => _inHand.IsEmpty ? null : _inHand.Values.DefaultIfEmpty(DateTime.MaxValue).Min();

    public Task PreReceive(ReceiveContext context)
    {
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
        return Task.CompletedTask;
    }
}
