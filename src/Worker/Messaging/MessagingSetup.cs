using MassTransit;
using Microsoft.Extensions.Options;
using Worker.Startup;

namespace Worker.Messaging;

public static class MessagingSetup
{
    /// <summary>How long a stopping worker gives the commands in hand to finish before it hands them back.</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Commands are read as MassTransit envelopes or as plain JSON (also when a client sets no content type);
    /// result events go out as plain JSON, so subscribers in any language read them without knowing MassTransit.
    /// </summary>
    public static IServiceCollection AddMessaging(this IServiceCollection services, IConfiguration configuration,
        bool development, Action<IBusRegistrationConfigurator> addConsumers)
    {
        services.AddOptions<MessagingOptions>().BindConfiguration(MessagingOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        // Resolved when the bus starts: `worker schema` and `import` need no broker.
        services.AddSingleton(_ => BrokerConnection.From(configuration, development));
        // Started before MassTransit's own hosted service, which comes with AddMassTransit below.
        services.AddHostedService<BrokerStartCheck>();
        services.AddSingleton<BrokerRefusals>();
        services.AddHealthChecks().Add(new Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckRegistration("broker",
            provider => provider.GetRequiredService<BrokerRefusals>(), null, ["ready"]));
        services.AddSingleton<DeliveryOrder>();
        services.AddSingleton<PartitionBalancer>();
        services.AddSingleton<CommandsInHand>();
        services.AddSingleton<Replies>();
        services.AddMassTransit(bus =>
        {
            bus.DisableUsageTelemetryForGood();
            bus.SetKebabCaseEndpointNameFormatter();
            addConsumers(bus);
            // Every command is answered by its own result event, failures included; MassTransit's Fault<T> events
            // would need exchanges of their own, which no subscriber reads and the worker's user is not granted.
            bus.AddConfigureEndpointsCallback((_, endpoint) => endpoint.PublishFaults = false);
            bus.AddReceiveEndpointObserver(provider => provider.GetRequiredService<BrokerRefusals>());
            bus.UsingRabbitMq((context, cfg) =>
            {
                var broker = context.GetRequiredService<BrokerConnection>();
                var rabbitMq = broker.Address;
                var messaging = context.GetRequiredService<IOptions<MessagingOptions>>().Value;
                var nodes = messaging.ClusterNodes;
                cfg.Host(rabbitMq, host =>
                {
                    broker.ApplyTo(host);
                    host.Heartbeat(messaging.Heartbeat);
                    host.RequestedConnectionTimeout(messaging.ConnectionTimeout);
                    if (string.IsNullOrWhiteSpace(nodes)) return;
                    host.UseCluster(cluster =>
                    {
                        cluster.Node(rabbitMq.IsDefaultPort ? rabbitMq.Host : $"{rabbitMq.Host}:{rabbitMq.Port}");
                        foreach (var node in nodes.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                            cluster.Node(node);
                    });
                });
                // Without MassTransit's transport headers (host info, message types, addresses) on every result
                // event: no subscriber needs them, and writing them, then routing them through the broker, cut
                // throughput by about a fifth in the bench. AMQP message_id and content_type are still set.
                cfg.UseRawJsonSerializer(RawSerializerOptions.AnyMessageType, isDefault: true);
                cfg.ConfigureJsonSerializerOptions(json =>
                {
                    // MassTransit indents by default; compact events are smaller and cheaper to write.
                    json.WriteIndented = false;
                    return json;
                });
                cfg.ConfigurePublish(publish => publish.UseFilter(new CommandTracing.PublishFilter()));
                cfg.SendTopology.ErrorQueueNameFormatter = new CommandPartitions.SharedErrorQueues();
                cfg.SendTopology.DeadLetterQueueNameFormatter = new CommandPartitions.SharedErrorQueues();
                cfg.SendTopology.ConfigureErrorSettings = CommandPartitions.WithoutCommandQueueArguments;
                cfg.SendTopology.ConfigureDeadLetterSettings = CommandPartitions.WithoutCommandQueueArguments;
                cfg.ConfigureEndpoints(context);
                cfg.ConfigurePartitions(context);
            });
        });
        services.AddHostedService<StuckCommandWatchdog>();
        services.AddOptions<MassTransitHostOptions>().Configure(options =>
        {
            // Finish the commands in flight before the process exits.
            options.WaitUntilStarted = true;
            options.StopTimeout = StopTimeout;
        });
        return services;
    }
}
