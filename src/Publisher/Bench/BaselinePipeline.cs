using Microsoft.Extensions.DependencyInjection;
using Contracts.CustomerPromotionLists;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;
using MassTransit;
using Worker.Messaging;
using Worker.CustomerPromotionLists;
using Worker.LeadSegments;
using Worker.MarketingPermissions;

namespace Publisher.Bench;

/// <summary>
/// The "baseline": what a team writes first. The worker's consumers and rules on a MassTransit bus with default
/// settings (no prefetch or concurrency tuning, no delivery ordering), one transaction and one publish per message.
/// Only the raw JSON serializer is set, because upstream services send plain JSON.
/// </summary>
public static class BaselinePipeline
{
    public static async Task<IBusControl> StartAsync(IServiceCollection services, string rabbitMq, string prefix,
        CancellationToken cancellationToken)
    {
        AddBus(services, rabbitMq, prefix);
        var bus = services.BuildServiceProvider().GetRequiredService<IBusControl>();
        await bus.StartAsync(cancellationToken);
        return bus;
    }

    public static IServiceCollection AddBus(IServiceCollection services, string rabbitMq, string prefix)
    {
        services.AddMassTransit(bus =>
        {
            bus.DisableUsageTelemetryForGood();
            bus.AddConsumer<UpdateLeadSegmentConsumer>();
            bus.AddConsumer<UpdateMarketingPermissionsConsumer>();
            bus.AddConsumer<UpdateCustomerPromotionListConsumer>();
            bus.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(new Uri(rabbitMq));
                cfg.UseRawJsonSerializer(RawSerializerOptions.All, isDefault: true);
                cfg.ReceiveEndpoint(prefix + UpdateLeadSegment.Queue, e => e.ConfigureConsumer<UpdateLeadSegmentConsumer>(context));
                cfg.ReceiveEndpoint(prefix + UpdateMarketingPermissions.Queue, e => e.ConfigureConsumer<UpdateMarketingPermissionsConsumer>(context));
                cfg.ReceiveEndpoint(prefix + UpdateCustomerPromotionList.Queue, e => e.ConfigureConsumer<UpdateCustomerPromotionListConsumer>(context));
            });
        });
        return services;
    }
}
