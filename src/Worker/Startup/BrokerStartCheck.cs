using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Worker.Startup;

/// <summary>
/// Waits for the broker before MassTransit's own hosted service starts the bus, up to Startup:WaitForServices (see
/// <see cref="BrokerCheck"/> for why), and declares the exchanges commands come in by: a broker without the
/// consistent-hash exchange plugin (a stock RabbitMQ) or a user without the right to configure them ends the start
/// here, in one line, before MassTransit would retry them for ever; so does a user that may not write to the default
/// exchange, through which commands are answered at their reply addresses. It declares the result exchanges too, which
/// MassTransit would declare only at the first result, so that subscribers can bind to them from the start. The
/// declarations are the ones MassTransit makes (durable, not auto-deleted, no arguments), so they change nothing it
/// would not.
/// </summary>
public sealed class BrokerStartCheck(BrokerConnection broker, IOptions<StartupOptions> options, IOptions<MessagingOptions> messaging,
    IEnumerable<CommandPartitions.PartitionedQueue> partitioned, ILogger<BrokerStartCheck> logger) : IHostedService
{
    public const string PluginCommand = "rabbitmq-plugins enable rabbitmq_consistent_hash_exchange";

    public Task StartAsync(CancellationToken cancellationToken) =>
        BrokerCheck.WaitAsync(broker, options.Value.WaitForServices, logger, cancellationToken, messaging.Value.ClusterNodes,
            DeclareExchangesAsync);

    async Task DeclareExchangesAsync(IChannel channel)
    {
        try
        {
            foreach (var exchange in ResultExchanges.All)
                await channel.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, autoDelete: false);
            // Replies go through the default exchange (Messaging/Replies.cs). A user that may not write to it would
            // have the broker close a channel at the first command that names a reply address; here it is told at
            // start. The probe's routing key names no queue, so nothing is delivered; the declaration after it comes
            // back only once the broker has taken (or refused) the probe, whose refusal closes the channel.
            await channel.BasicPublishAsync("", "", mandatory: false, new BasicProperties(), ReadOnlyMemory<byte>.Empty);
            await channel.ExchangeDeclareAsync(ResultExchanges.All[0], ExchangeType.Fanout, durable: true, autoDelete: false);
        }
        catch (OperationInterruptedException e) when (BrokerCheck.Refusal(e) is { } refusal)
        {
            throw new StartupFailure($"RabbitMQ at {BrokerConnection.Redacted(broker.Address)} refused: {refusal}; grant " +
                "the permissions docs/security.md lists to the user of ConnectionStrings__RabbitMq", StartupFailure.NoPermission, e);
        }
        if (messaging.Value.Partitions == 0) return;
        foreach (var queue in partitioned)
        {
            try
            {
                await channel.ExchangeDeclareAsync(CommandPartitions.ExchangeOf(queue.Name), CommandPartitions.ExchangeType,
                    durable: true, autoDelete: false);
            }
            catch (OperationInterruptedException e) when (e.ShutdownReason is { ReplyCode: Constants.CommandInvalid }
                                                            && e.ShutdownReason.ReplyText.Contains(CommandPartitions.ExchangeType))
            {
                throw new StartupFailure($"RabbitMQ at {BrokerConnection.Redacted(broker.Address)} has no " +
                    $"{CommandPartitions.ExchangeType} exchange type, which routes commands to their partitions: run " +
                    $"`{PluginCommand}` on every node, or set Messaging__Partitions=0 to consume only the operation queues " +
                    "(order then holds within one instance only)", StartupFailure.ServiceUnavailable, e);
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
