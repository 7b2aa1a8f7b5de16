using System.Text.Json;
using Npgsql;
using Worker.DemoData;
using Worker.Storage;

namespace Worker.LeadSegments;

/// <summary>Reads <c>"leadSegments": [{"enterprise": "acme", "id": "1234", "code": ..., ...}]</c>.</summary>
public sealed class LeadSegmentDemoData(DocumentStore store) : IDemoDataSection
{
    public string Name => "leadSegments";

    public async Task<int> ImportAsync(JsonElement section, NpgsqlConnection connection, NpgsqlTransaction transaction,
        bool overwrite, CancellationToken cancellationToken)
    {
        var written = 0;
        foreach (var item in section.EnumerateArray())
        {
            var enterprise = item.GetProperty("enterprise").GetString()!;
            var segment = item.Deserialize<LeadSegment>(DocumentJson.Options)!;
            if (await store.InsertAsync(connection, transaction, enterprise, segment.Id, segment,
                    deleted: segment.DeletedAt is not null, segment.DeletedAt, overwrite, cancellationToken))
                written++;
        }
        return written;
    }
}
