using MassTransit;
using Worker.DemoData;

namespace Worker.MarketingPermissions;

public static class MarketingPermissionsSetup
{
    public static IServiceCollection AddMarketingPermissions(this IServiceCollection services)
    {
        services.AddSingleton(UpdateMarketingPermissionsHandler.Accounts);
        services.AddSingleton(UpdateMarketingPermissionsHandler.Permissions);
        services.AddSingleton(UpdateMarketingPermissionsHandler.History);
        services.AddSingleton<UpdateMarketingPermissionsHandler>();
        services.AddSingleton<IDemoDataSection, MarketingPermissionsDemoData>();
        return services;
    }

    public static void AddMarketingPermissionConsumers(this IBusRegistrationConfigurator bus) =>
        bus.AddConsumer<UpdateMarketingPermissionsConsumer, UpdateMarketingPermissionsConsumerDefinition>();
}
