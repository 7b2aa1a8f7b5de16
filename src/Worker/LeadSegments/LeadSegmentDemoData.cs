using System.Text.Json;
using Marten;
using Worker.DemoData;

namespace Worker.LeadSegments;

/// <summary>Reads <c>"leadSegments": [{"enterprise": "acme", "id": "1234", "code": ..., ...}]</c>.</summary>
public sealed class LeadSegmentDemoData : IDemoDataSection
{
    public string Name => "leadSegments";

    public async Task<int> ImportAsync(JsonElement section, IDocumentSession session, bool overwrite,
        CancellationToken cancellationToken)
    {
        var written = 0;
        var byEnterprise = section.EnumerateArray()
            .Select(item => (Enterprise: item.GetProperty("enterprise").GetString()!,
                Segment: item.Deserialize<LeadSegment>(DocumentJson.Options)!))
            .GroupBy(item => item.Enterprise);
        foreach (var enterprise in byEnterprise)
        {
            var tenant = session.ForTenant(enterprise.Key);
            var stored = await DemoDocuments.StoreAsync(tenant, enterprise.Select(item => item.Segment).ToList(), overwrite,
                cancellationToken);
            // A segment the file has as deleted is soft-deleted in the store, as the API would have left it.
            foreach (var segment in stored.Where(segment => segment.DeletedAt is not null)) tenant.Delete<LeadSegment>(segment.Id);
            written += stored.Count;
        }
        return written;
    }
}
