using System.Text.Json;
using Npgsql;
using Worker.DemoData;
using Worker.Storage;

namespace Worker.CustomerPromotionLists;

/// <summary>Reads <c>"customerPromotionLists": {"customers": [...], "promotionLists": [...], "assignments": [...]}</c>.</summary>
public sealed class CustomerPromotionListDemoData(DocumentStore store) : IDemoDataSection
{
    public string Name => "customerPromotionLists";

    public async Task<int> ImportAsync(JsonElement section, NpgsqlConnection connection, NpgsqlTransaction transaction,
        bool overwrite, CancellationToken cancellationToken)
    {
        var written = 0;
        async Task Import<T>(string part, Func<T, long> idOf)
        {
            foreach (var item in section.GetProperty(part).EnumerateArray())
            {
                var document = item.Deserialize<T>(DocumentJson.Options)!;
                if (await store.InsertAsync(connection, transaction, DocumentStore.DefaultTenant, idOf(document).ToString(),
                        document, deleted: false, deletedAt: null, overwrite, cancellationToken)) written++;
            }
        }
        await Import<Customer>("customers", c => c.Id);
        await Import<PromotionList>("promotionLists", p => p.Id);
        await Import<CustomerPromotionList>("assignments", a => a.Id);
        return written;
    }
}
