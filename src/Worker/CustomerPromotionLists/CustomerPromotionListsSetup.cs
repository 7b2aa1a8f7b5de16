using Contracts.CustomerPromotionLists;
using Marten;
using Marten.Schema;
using Marten.Schema.Identity;
using Marten.Schema.Indexing.Unique;
using MassTransit;
using Worker.DemoData;

namespace Worker.CustomerPromotionLists;

public static class CustomerPromotionListsSetup
{
    /// <summary>The unique index that keeps one assignment per (customer, promotion list).</summary>
    public const string AssignmentIndex = "mt_doc_customerpromotionlist_uidx_customer_promotion_list";

    public static IServiceCollection AddCustomerPromotionLists(this IServiceCollection services)
    {
        services.ConfigureMarten(Map);
        services.AddSingleton<IDemoDataSection, CustomerPromotionListDemoData>();
        return services;
    }

    /// <summary>
    /// Valomnia's ids are Longs, given by Valomnia: Marten stores them as they are (no id generation). An assignment
    /// is written back only at the version it was read, is unique per (customer, promotion list), and can be found
    /// by its customer reference.
    /// </summary>
    public static void Map(StoreOptions options)
    {
        options.Schema.For<Customer>().IdStrategy(new NoOpIdGeneration());
        options.Schema.For<PromotionList>().IdStrategy(new NoOpIdGeneration());
        options.Schema.For<CustomerPromotionList>()
            .IdStrategy(new NoOpIdGeneration())
            .UseOptimisticConcurrency(true)
            .Metadata(m => m.Version.MapTo(assignment => assignment.Version))
            .UniqueIndex(UniqueIndexType.Computed, AssignmentIndex, TenancyScope.PerTenant,
                assignment => assignment.CustomerId, assignment => assignment.PromotionListId)
            .Index(assignment => assignment.CustomerReference);
    }

    public static void AddCustomerPromotionListConsumers(this IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<UpdateCustomerPromotionListConsumer, UpdateCustomerPromotionListConsumerDefinition>();
        bus.AddCommandPartitions<UpdateCustomerPromotionListConsumer>(UpdateCustomerPromotionList.Queue);
    }
}
