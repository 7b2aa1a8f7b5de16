using Contracts.MarketingPermissions;
namespace Worker.MarketingPermissions;

/// <summary>What applying a request does to an account: its new state and one history entry per changed value.</summary>
public sealed record ConsentDecision(Account Account, IReadOnlyList<ConsentChanged> Changes);

/// <summary>The rules of a marketing-permissions update, free of storage.</summary>
public static class MarketingPermissionRules
{
    /// <summary>
    /// Applies every requested permission or none: the first permission that is unknown, or inactive and being
    /// given, refuses the whole request. Withdrawing an inactive permission is allowed, so consent can always be
    /// taken back.
    /// </summary>
    public static (ConsentDecision? Decision, PaywayError? Refusal) Apply(Account account,
        MarketingPermissionsRequest request, IReadOnlyDictionary<string, MarketingPermission> defined,
        DateTimeOffset now, string correlationId, Guid? commandMessageId)
    {
        var permissions = new Dictionary<string, bool>(account.MarketingPermissions);
        var changes = new List<ConsentChanged>();
        foreach (var requested in request.Permissions)
        {
            if (!defined.TryGetValue(requested.Id, out var definition))
                return (null, PaywayErrors.PermissionNotFound($"{requested.Field}.id", requested.Id));
            if (!definition.Active && requested.Enabled)
                return (null, PaywayErrors.Invalid($"{requested.Field}.enabled",
                    $"marketing permission {requested.Id} is inactive and can only be withdrawn"));

            bool? old = permissions.TryGetValue(requested.Id, out var current) ? current : null;
            if (old == requested.Enabled) continue;
            permissions[requested.Id] = requested.Enabled;
            changes.Add(new ConsentChanged
            {
                PermissionId = requested.Id,
                OldValue = old,
                NewValue = requested.Enabled,
                ChangedAt = now,
                CorrelationId = correlationId,
                CommandMessageId = commandMessageId,
            });
        }
        var updated = changes.Count == 0
            ? account
            : account with { MarketingPermissions = permissions, UpdatedAt = now, ConsentChanges = account.ConsentChanges + changes.Count };
        return (new ConsentDecision(updated, changes), null);
    }
}
