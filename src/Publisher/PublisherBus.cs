using System.Text.Json;
using MassTransit;
using MassTransit.RabbitMqTransport;

namespace Publisher;

/// <summary>A result event as it arrives, whichever operation it answers.</summary>
public sealed record ResultView
{
    public string? CorrelationId { get; init; }
    public Guid? CommandMessageId { get; init; }
    public int Status { get; init; }
    public JsonElement Body { get; init; }
}

/// <summary>
/// Sends commands the way a .NET upstream service does (MassTransit envelopes, publisher confirms) and, when asked,
/// waits for the result event of each on a temporary queue bound to the operation's result exchanges.
/// </summary>
public sealed class PublisherBus : IAsyncDisposable
{
    readonly IBusControl _bus;
    readonly System.Collections.Concurrent.ConcurrentDictionary<string, TaskCompletionSource<(string Exchange, ResultView Result)>> _waiting = new();

    PublisherBus(IBusControl bus) => _bus = bus;

    public static async Task<PublisherBus> StartAsync(string rabbitMq, string[] resultExchanges)
    {
        PublisherBus? publisher = null;
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(new Uri(rabbitMq));
            if (resultExchanges.Length == 0) return;
            cfg.ReceiveEndpoint(e =>
            {
                e.ConfigureConsumeTopology = false;
                e.UseRawJsonDeserializer(RawSerializerOptions.AnyMessageType, isDefault: true);
                foreach (var exchange in resultExchanges) e.Bind(exchange);
                e.Handler<ResultView>(context =>
                {
                    var exchange = context.ReceiveContext.TryGetPayload(out RabbitMqBasicConsumeContext? rabbit) ? rabbit.Exchange : "";
                    if (context.Message.CorrelationId is { } id && publisher!._waiting.TryRemove(id, out var waiter))
                        waiter.TrySetResult((exchange, context.Message));
                    return Task.CompletedTask;
                });
            });
        });
        publisher = new PublisherBus(bus);
        await bus.StartAsync();
        return publisher;
    }

    /// <summary>Sends the command to its queue; the returned task ends with its result when one is awaited.</summary>
    public async Task<Task<(string Exchange, ResultView Result)>> SendAsync<T>(string queue, T command, string correlationId,
        bool awaitResult, CancellationToken cancellationToken) where T : class
    {
        var waiter = new TaskCompletionSource<(string, ResultView)>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (awaitResult) _waiting[correlationId] = waiter;
        var endpoint = await _bus.GetSendEndpoint(new Uri($"queue:{queue}"));
        await endpoint.Send(command, cancellationToken);
        return waiter.Task;
    }

    public async ValueTask DisposeAsync() => await _bus.StopAsync();
}
