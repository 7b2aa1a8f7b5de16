using System.Text.Json;
using Npgsql;
using Worker.DemoData;
using Worker.Storage;

namespace Worker.MarketingPermissions;

/// <summary>Reads <c>"marketingPermissions": {"definitions": [...], "accounts": [...]}</c>.</summary>
public sealed class MarketingPermissionsDemoData(DocumentStore store) : IDemoDataSection
{
    public string Name => "marketingPermissions";

    public async Task<int> ImportAsync(JsonElement section, NpgsqlConnection connection, NpgsqlTransaction transaction,
        bool overwrite, CancellationToken cancellationToken)
    {
        var written = 0;
        foreach (var item in section.GetProperty("definitions").EnumerateArray())
        {
            var definition = item.Deserialize<MarketingPermission>(DocumentJson.Options)!;
            if (await store.InsertAsync(connection, transaction, DocumentStore.DefaultTenant, definition.Id, definition,
                    deleted: false, deletedAt: null, overwrite, cancellationToken)) written++;
        }
        foreach (var item in section.GetProperty("accounts").EnumerateArray())
        {
            var account = item.Deserialize<Account>(DocumentJson.Options)!;
            if (await store.InsertAsync(connection, transaction, DocumentStore.DefaultTenant, account.Id, account,
                    deleted: false, deletedAt: null, overwrite, cancellationToken)) written++;
        }
        return written;
    }
}
