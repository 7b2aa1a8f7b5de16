using System.Text.Json;
using System.Text.Json.Nodes;

namespace Contracts.MarketingPermissions;

/// <summary>
/// Tulo Payway's PUT /external/api/v1/marketing_permissions/update as a command, sent to the queue
/// <c>update-marketing-permissions</c>. The documented request body travels verbatim under <c>body</c>, so the
/// worker can answer unknown or mistyped fields as the API does.
/// </summary>
public sealed record UpdateMarketingPermissions
{
    public const string Queue = "update-marketing-permissions";

    public string? CorrelationId { get; init; }
    public JsonElement Body { get; init; }

    /// <summary>
    /// The routing key on the partitioned exchange (docs/scale-out.md): the account id, as the worker reads it (an id
    /// in any case names one account).
    /// </summary>
    public string PartitionKey() => AccountId()?.ToLowerInvariant() ?? "";

    /// <summary>The body's <c>account_id</c>, when it is a string.</summary>
    public string? AccountId() => Body.ValueKind == JsonValueKind.Object && Body.TryGetProperty("account_id", out var id)
        && id.ValueKind == JsonValueKind.String ? id.GetString() : null;

    /// <summary>Builds the documented body: <c>{"account_id": ..., "marketing_permissions": [{"id", "enabled"}]}</c>.</summary>
    public static UpdateMarketingPermissions Create(string correlationId, string accountId,
        IEnumerable<(string Id, bool Enabled)> permissions)
    {
        var items = new JsonArray();
        foreach (var (id, enabled) in permissions) items.Add(new JsonObject { ["id"] = id, ["enabled"] = enabled });
        var body = new JsonObject { ["account_id"] = accountId, ["marketing_permissions"] = items };
        return new UpdateMarketingPermissions { CorrelationId = correlationId, Body = JsonSerializer.SerializeToElement(body) };
    }
}
