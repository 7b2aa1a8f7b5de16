using MassTransit;
using Microsoft.Extensions.Options;
using Worker.Startup;

namespace Worker.Messaging;

public static class MessagingSetup
{
    /// <summary>
    /// Commands are read as MassTransit envelopes or as plain JSON (also when a client sets no content type);
    /// result events go out as plain JSON, so subscribers in any language read them without knowing MassTransit.
    /// </summary>
    public static IServiceCollection AddMessaging(this IServiceCollection services, IConfiguration configuration,
        Action<IBusRegistrationConfigurator> addConsumers)
    {
        services.AddOptions<MessagingOptions>().BindConfiguration(MessagingOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        var rabbitMq = BrokerCheck.Address(configuration.GetConnectionString("RabbitMq") ?? BrokerCheck.DefaultConnectionString);
        // Started before MassTransit's own hosted service, which comes with AddMassTransit below.
        services.AddHostedService(provider => ActivatorUtilities.CreateInstance<BrokerStartCheck>(provider, rabbitMq));
        services.AddSingleton<DeliveryOrder>();
        services.AddSingleton<PartitionBalancer>();
        services.AddSingleton<CommandsInHand>();
        services.AddMassTransit(bus =>
        {
            bus.DisableUsageTelemetryForGood();
            bus.SetKebabCaseEndpointNameFormatter();
            addConsumers(bus);
            bus.UsingRabbitMq((context, cfg) =>
            {
                var nodes = context.GetRequiredService<IOptions<MessagingOptions>>().Value.ClusterNodes;
                cfg.Host(rabbitMq, host =>
                {
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
            options.StopTimeout = TimeSpan.FromSeconds(30);
        });
        return services;
    }
}
