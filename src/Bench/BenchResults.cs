using Contracts;
using Contracts.CustomerPromotionLists;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;
using Worker.MarketingPermissions;
using Worker.Storage;

namespace Bench;

/// <summary>The result event the worker would publish for an answer, for the pipelines the bench compares it with.</summary>
public static class BenchResults
{
    public static CommandResult Answer(object command, Guid? messageId, CommandOutcome o) => command switch
    {
        UpdateLeadSegment l => o.Succeeded
            ? new LeadSegmentUpdated { CorrelationId = l.CorrelationId, CommandMessageId = messageId, Status = o.Status, Body = o.Body, Enterprise = l.Enterprise, Id = l.Id }
            : new LeadSegmentUpdateFailed { CorrelationId = l.CorrelationId, CommandMessageId = messageId, Status = o.Status, Body = o.Body, Enterprise = l.Enterprise, Id = l.Id },
        UpdateMarketingPermissions m => o.Succeeded
            ? new MarketingPermissionsUpdated { CorrelationId = m.CorrelationId, CommandMessageId = messageId, Status = o.Status, Body = o.Body, AccountId = UpdateMarketingPermissionsConsumer.AccountIdOf(m) }
            : new MarketingPermissionsUpdateFailed { CorrelationId = m.CorrelationId, CommandMessageId = messageId, Status = o.Status, Body = o.Body, AccountId = UpdateMarketingPermissionsConsumer.AccountIdOf(m) },
        UpdateCustomerPromotionList p => o.Succeeded
            ? new CustomerPromotionListUpdated { CorrelationId = p.CorrelationId, CommandMessageId = messageId, Status = o.Status, Body = o.Body }
            : new CustomerPromotionListUpdateFailed { CorrelationId = p.CorrelationId, CommandMessageId = messageId, Status = o.Status, Body = o.Body },
        _ => throw new InvalidOperationException($"Unknown command {command.GetType()}"),
    };

    public static string ExchangeOf(CommandResult result) => result switch
    {
        LeadSegmentUpdated => LeadSegmentUpdated.Exchange,
        LeadSegmentUpdateFailed => LeadSegmentUpdateFailed.Exchange,
        MarketingPermissionsUpdated => MarketingPermissionsUpdated.Exchange,
        MarketingPermissionsUpdateFailed => MarketingPermissionsUpdateFailed.Exchange,
        CustomerPromotionListUpdated => CustomerPromotionListUpdated.Exchange,
        CustomerPromotionListUpdateFailed => CustomerPromotionListUpdateFailed.Exchange,
        _ => throw new InvalidOperationException($"Unknown result {result.GetType()}"),
    };
}
