using MassTransit;
using Worker.DemoData;
using Worker.Storage;

namespace Worker.LeadSegments;

public static class LeadSegmentsSetup
{
    public static IServiceCollection AddLeadSegments(this IServiceCollection services)
    {
        services.AddSingleton(UpdateLeadSegmentHandler.Mapping);
        services.AddSingleton<UpdateLeadSegmentHandler>();
        services.AddSingleton<IDemoDataSection, LeadSegmentDemoData>();
        return services;
    }

    public static void AddLeadSegmentConsumers(this IBusRegistrationConfigurator bus) =>
        bus.AddConsumer<UpdateLeadSegmentConsumer, UpdateLeadSegmentConsumerDefinition>();
}
