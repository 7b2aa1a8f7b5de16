using Contracts.CustomerPromotionLists;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;

namespace Contracts;

/// <summary>Every exchange a result event is published to (fanout, durable), for subscribers to bind their queues to.</summary>
public static class ResultExchanges
{
    public static readonly IReadOnlyList<string> All =
    [
        LeadSegmentUpdated.Exchange, LeadSegmentUpdateFailed.Exchange,
        MarketingPermissionsUpdated.Exchange, MarketingPermissionsUpdateFailed.Exchange,
        CustomerPromotionListUpdated.Exchange, CustomerPromotionListUpdateFailed.Exchange,
    ];
}
