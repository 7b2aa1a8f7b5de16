using Contracts.LeadSegments;
using Marten;
using Marten.Schema.Indexing.Unique;
using MassTransit;
using Worker.DemoData;

namespace Worker.LeadSegments;

public static class LeadSegmentsSetup
{
    /// <summary>The unique index that keeps a code to one live lead segment per enterprise.</summary>
    public const string CodeIndex = "mt_doc_leadsegment_uidx_code";

    public static IServiceCollection AddLeadSegments(this IServiceCollection services)
    {
        services.ConfigureMarten(Map);
        services.AddSingleton<IDemoDataSection, LeadSegmentDemoData>();
        return services;
    }

    /// <summary>
    /// Lead segments in Marten: the enterprise is the tenant (conjoined), deletes are soft, every write is checked
    /// against the version read, and a code is unique among the live segments of an enterprise, so a soft-deleted
    /// segment's code is free again.
    /// </summary>
    public static void Map(StoreOptions options) =>
        options.Schema.For<LeadSegment>()
            .SoftDeleted()
            .UseOptimisticConcurrency(true)
            .Metadata(m =>
            {
                m.Version.MapTo(segment => segment.Version);
                m.IsSoftDeleted.MapTo(segment => segment.Deleted);
            })
            .Index(segment => segment.Code, index =>
            {
                index.Name = CodeIndex;
                index.IsUnique = true;
                index.TenancyScope = TenancyScope.PerTenant;
                index.Predicate = "mt_deleted = false";
            });

    public static void AddLeadSegmentConsumers(this IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<UpdateLeadSegmentConsumer, UpdateLeadSegmentConsumerDefinition>();
        bus.AddCommandPartitions<UpdateLeadSegmentConsumer>(UpdateLeadSegment.Queue);
    }
}
