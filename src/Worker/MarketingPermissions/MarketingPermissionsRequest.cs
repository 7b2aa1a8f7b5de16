using System.Text.Json;
using System.Text.RegularExpressions;
using Contracts.MarketingPermissions;

namespace Worker.MarketingPermissions;

/// <summary>A permission the request sets, with the parameter path that names it in errors.</summary>
public sealed record RequestedPermission(string Id, bool Enabled, string Field);

/// <summary>The documented request, read and checked as Payway checks it.</summary>
public sealed partial record MarketingPermissionsRequest(string AccountId, IReadOnlyList<RequestedPermission> Permissions)
{
    /// <summary>More permissions than Payway defines in total is a mistake or an attack, never a real request.</summary>
    public const int MaxPermissions = 100;

    static readonly HashSet<string> BodyFields = ["account_id", "marketing_permissions"];
    static readonly HashSet<string> ItemFields = ["id", "enabled"];

    /// <summary>
    /// Returns the request, or the first error Payway would answer: unknown parameters anywhere come first, then
    /// invalid ones in document order.
    /// </summary>
    public static (MarketingPermissionsRequest? Request, PaywayError? Error) Read(UpdateMarketingPermissions command)
    {
        if (string.IsNullOrEmpty(command.CorrelationId))
            return (null, PaywayErrors.Invalid("correlationId", "is required and must be a non-empty string"));
        var body = command.Body;
        if (body.ValueKind != JsonValueKind.Object) return (null, PaywayErrors.Invalid("body", "must be a JSON object"));
        if (FirstUnknown(body) is { } unknown) return (null, PaywayErrors.Unknown(unknown));

        if (!body.TryGetProperty("account_id", out var account)) return (null, PaywayErrors.Invalid("account_id", "is required"));
        if (account.ValueKind != JsonValueKind.String || !AccountIdFormat().IsMatch(account.GetString()!))
            return (null, PaywayErrors.Invalid("account_id", @"must be a string matching /^[a-f\d]{24}$/i"));

        if (!body.TryGetProperty("marketing_permissions", out var list)) return (null, PaywayErrors.Invalid("marketing_permissions", "is required"));
        if (list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0)
            return (null, PaywayErrors.Invalid("marketing_permissions", "must be a non-empty array"));
        if (list.GetArrayLength() > MaxPermissions)
            return (null, PaywayErrors.Invalid("marketing_permissions", $"must not have more than {MaxPermissions} items"));

        var permissions = new List<RequestedPermission>();
        var index = 0;
        foreach (var item in list.EnumerateArray())
        {
            var field = $"marketing_permissions[{index++}]";
            if (item.ValueKind != JsonValueKind.Object) return (null, PaywayErrors.Invalid(field, "must be an object with id and enabled"));
            if (!item.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.String || id.GetString() is "")
                return (null, PaywayErrors.Invalid($"{field}.id", "is required and must be a non-empty string"));
            if (!item.TryGetProperty("enabled", out var enabled) || enabled.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                return (null, PaywayErrors.Invalid($"{field}.enabled", "is required and must be a boolean"));

            var permission = new RequestedPermission(id.GetString()!, enabled.GetBoolean(), field);
            var same = permissions.Find(p => p.Id == permission.Id);
            if (same is null) permissions.Add(permission);
            else if (same.Enabled != permission.Enabled)
                return (null, PaywayErrors.Invalid($"{field}.id", $"permission {permission.Id} is listed twice with different values"));
        }
        // Ids are case-insensitive by the documented pattern; stored ids are lowercase.
        return (new MarketingPermissionsRequest(account.GetString()!.ToLowerInvariant(), permissions), null);
    }

    static string? FirstUnknown(JsonElement body)
    {
        foreach (var property in body.EnumerateObject())
        {
            if (!BodyFields.Contains(property.Name)) return property.Name;
        }
        if (!body.TryGetProperty("marketing_permissions", out var list) || list.ValueKind != JsonValueKind.Array) return null;
        var index = 0;
        foreach (var item in list.EnumerateArray())
        {
            if (item.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in item.EnumerateObject())
                {
                    if (!ItemFields.Contains(property.Name)) return $"marketing_permissions[{index}].{property.Name}";
                }
            }
            index++;
        }
        return null;
    }

    // \z, not $: in .NET $ also matches before a final newline.
    [GeneratedRegex(@"^[a-f\d]{24}\z", RegexOptions.IgnoreCase)]
    private static partial Regex AccountIdFormat();
}
