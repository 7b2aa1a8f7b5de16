using MassTransit;

namespace Contracts.CustomerPromotionLists;

/// <summary>Published to the fanout exchange <c>customer-promotion-list-updated</c>: status 200, the updated assignment.</summary>
[EntityName(Exchange)]
public sealed record CustomerPromotionListUpdated : CommandResult
{
    public const string Exchange = "customer-promotion-list-updated";
}

/// <summary>Published to the fanout exchange <c>customer-promotion-list-update-failed</c>: <c>{"error", "error_description"}</c>.</summary>
[EntityName(Exchange)]
public sealed record CustomerPromotionListUpdateFailed : CommandResult
{
    public const string Exchange = "customer-promotion-list-update-failed";
}
