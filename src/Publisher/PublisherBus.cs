using System.Text.Json;
using MassTransit;
using MassTransit.RabbitMqTransport;
using Hosting;

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
    // Keyed by the command's message id, which every result event carries: correlation ids come from clients and
    // need not be unique.
    readonly System.Collections.Concurrent.ConcurrentDictionary<Guid, TaskCompletionSource<(string Exchange, ResultView Result)>> _waiting = new();

    PublisherBus(IBusControl bus) => _bus = bus;

    public static async Task<PublisherBus> StartAsync(string rabbitMq, string[] resultExchanges)
    {
        PublisherBus? publisher = null;
        // A wrong address or a refused login ends in one line instead of MassTransit retrying it forever.
        var broker = BrokerCheck.Address(rabbitMq);
        await BrokerCheck.WaitAsync(broker, TimeSpan.FromSeconds(10), null, CancellationToken.None);
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg =>
        {
            cfg.Host(broker);
            if (resultExchanges.Length == 0) return;
            cfg.ReceiveEndpoint(e =>
            {
                e.ConfigureConsumeTopology = false;
                e.UseRawJsonDeserializer(RawSerializerOptions.AnyMessageType, isDefault: true);
                foreach (var exchange in resultExchanges) e.Bind(exchange);
                e.Handler<ResultView>(context =>
                {
                    var exchange = context.ReceiveContext.TryGetPayload(out RabbitMqBasicConsumeContext? rabbit) ? rabbit.Exchange : "";
                    if (context.Message.CommandMessageId is { } id && publisher!._waiting.TryRemove(id, out var waiter))
                        waiter.TrySetResult((exchange, context.Message));
                    return Task.CompletedTask;
                });
            });
        });
        publisher = new PublisherBus(bus);
        await bus.StartAsync();
        return publisher;
    }

    /// <summary>Sends the command to its queue.</summary>
    public Task SendAsync<T>(string queue, T command, CancellationToken cancellationToken) where T : class =>
        SendAsync(queue, command, NewId.NextGuid(), cancellationToken);

    /// <summary>Sends the command and waits for its result event; null when none came within the timeout.</summary>
    public async Task<(string Exchange, ResultView Result)?> SendAndWaitAsync<T>(string queue, T command,
        TimeSpan timeout, CancellationToken cancellationToken) where T : class
    {
        var messageId = NewId.NextGuid();
        var waiter = new TaskCompletionSource<(string, ResultView)>(TaskCreationOptions.RunContinuationsAsynchronously);
        _waiting[messageId] = waiter;
        try
        {
            await SendAsync(queue, command, messageId, cancellationToken);
            return await waiter.Task.WaitAsync(timeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            return null;
        }
        finally
        {
            _waiting.TryRemove(messageId, out _);
        }
    }

    async Task SendAsync<T>(string queue, T command, Guid messageId, CancellationToken cancellationToken) where T : class
    {
        var endpoint = await _bus.GetSendEndpoint(new Uri($"queue:{queue}"));
        await endpoint.Send(command, context => context.MessageId = messageId, cancellationToken);
    }

    public async ValueTask DisposeAsync() => await _bus.StopAsync();
}
