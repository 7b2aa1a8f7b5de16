using MassTransit;

namespace Contracts.MarketingPermissions;

/// <summary>Published to the fanout exchange <c>marketing-permissions-updated</c>: status 200, body <c>{"id": "&lt;account id&gt;"}</c>.</summary>
[EntityName(Exchange)]
public sealed record MarketingPermissionsUpdated : CommandResult
{
    public const string Exchange = "marketing-permissions-updated";

    public string? AccountId { get; init; }
}

/// <summary>
/// Published to the fanout exchange <c>marketing-permissions-update-failed</c>: body
/// <c>{"code": "...", "message": "...", "field": "..."}</c>, <c>field</c> only where one parameter is at fault.
/// </summary>
[EntityName(Exchange)]
public sealed record MarketingPermissionsUpdateFailed : CommandResult
{
    public const string Exchange = "marketing-permissions-update-failed";

    public string? AccountId { get; init; }
}
