using System.Text.Json;
using Marten;
using Worker.DemoData;

namespace Worker.CustomerPromotionLists;

/// <summary>Reads <c>"customerPromotionLists": {"customers": [...], "promotionLists": [...], "assignments": [...]}</c>.</summary>
public sealed class CustomerPromotionListDemoData : IDemoDataSection
{
    public string Name => "customerPromotionLists";

    public async Task<int> ImportAsync(JsonElement section, IDocumentSession session, bool overwrite,
        CancellationToken cancellationToken)
    {
        async Task<int> Import<T>(string part) where T : class =>
            (await DemoDocuments.StoreAsync(session,
                section.GetProperty(part).Deserialize<List<T>>(DocumentJson.Options)!, overwrite, cancellationToken)).Count;
        return await Import<Customer>("customers") + await Import<PromotionList>("promotionLists")
            + await Import<CustomerPromotionList>("assignments");
    }
}
