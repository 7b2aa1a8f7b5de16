using System.Text.Json;
using Marten;
using Worker.DemoData;

namespace Worker.MarketingPermissions;

/// <summary>Reads <c>"marketingPermissions": {"definitions": [...], "accounts": [...]}</c>.</summary>
public sealed class MarketingPermissionsDemoData : IDemoDataSection
{
    public string Name => "marketingPermissions";

    public async Task<int> ImportAsync(JsonElement section, IDocumentSession session, bool overwrite,
        CancellationToken cancellationToken)
    {
        var definitions = section.GetProperty("definitions").Deserialize<List<MarketingPermission>>(DocumentJson.Options)!;
        var accounts = section.GetProperty("accounts").Deserialize<List<Account>>(DocumentJson.Options)!;
        return (await DemoDocuments.StoreAsync(session, definitions, overwrite, cancellationToken)).Count
            + (await DemoDocuments.StoreAsync(session, accounts, overwrite, cancellationToken)).Count;
    }
}
