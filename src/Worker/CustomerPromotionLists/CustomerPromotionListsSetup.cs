using MassTransit;
using Worker.DemoData;

namespace Worker.CustomerPromotionLists;

public static class CustomerPromotionListsSetup
{
    public static IServiceCollection AddCustomerPromotionLists(this IServiceCollection services)
    {
        services.AddSingleton(UpdateCustomerPromotionListHandler.Customers);
        services.AddSingleton(UpdateCustomerPromotionListHandler.PromotionLists);
        services.AddSingleton(UpdateCustomerPromotionListHandler.Assignments);
        services.AddSingleton<UpdateCustomerPromotionListHandler>();
        services.AddSingleton<IDemoDataSection, CustomerPromotionListDemoData>();
        return services;
    }

    public static void AddCustomerPromotionListConsumers(this IBusRegistrationConfigurator bus) =>
        bus.AddConsumer<UpdateCustomerPromotionListConsumer, UpdateCustomerPromotionListConsumerDefinition>();
}
