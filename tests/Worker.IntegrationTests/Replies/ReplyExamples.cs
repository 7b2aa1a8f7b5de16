using Contracts.CustomerPromotionLists;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;

namespace Worker.IntegrationTests.Replies;

/// <summary>
/// For each operation, a command the demo data lets succeed and one the API refuses, as raw JSON without a correlation
/// id (each test adds its own), with the result event each gets: docs/asyncapi.yaml's examples.
/// </summary>
public static class ReplyExamples
{
    public sealed record Example(string Name, string Queue, string Fields, string Exchange, int Status, string? Code)
    {
        public byte[] Command(string correlationId) =>
            System.Text.Encoding.UTF8.GetBytes($$"""{"correlationId": "{{correlationId}}", {{Fields}}}""");

        public override string ToString() => Name;
    }

    public static readonly Example[] All =
    [
        new("lead-segment-updated", UpdateLeadSegment.Queue,
            """ "enterprise": "acme", "id": "1234", "body": {"description": "string", "code": "string"} """,
            LeadSegmentUpdated.Exchange, 200, null),
        new("lead-segment-code-in-use", UpdateLeadSegment.Queue,
            """ "enterprise": "acme", "id": "1234", "body": {"code": "REPEATVISITOR"} """,
            LeadSegmentUpdateFailed.Exchange, 422, LeadSegmentErrors.CodeAlreadyInUse),
        new("marketing-permissions-updated", UpdateMarketingPermissions.Queue,
            """ "body": {"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": [{"id": "5b9707e317c0f859830000c3", "enabled": true}]} """,
            MarketingPermissionsUpdated.Exchange, 200, null),
        new("marketing-permissions-unknown-account", UpdateMarketingPermissions.Queue,
            """ "body": {"account_id": "585a4768edce2c5e6f0000ff", "marketing_permissions": [{"id": "5b9707e317c0f859830000c3", "enabled": true}]} """,
            MarketingPermissionsUpdateFailed.Exchange, 404, "not_found"),
        new("customer-promotion-list-updated", UpdateCustomerPromotionList.Queue,
            """ "id": 123, "body": {"promotionListId": 777, "customerId": 1335} """,
            CustomerPromotionListUpdated.Exchange, 200, null),
        new("customer-promotion-list-already-assigned", UpdateCustomerPromotionList.Queue,
            """ "reference": {"customerId": "C-002", "promotionListId": "PL-001"}, "body": {"promotionListId": 9, "customerId": 1335} """,
            CustomerPromotionListUpdateFailed.Exchange, 400, "already_assigned"),
    ];

    public static TheoryData<string> Names => new(All.Select(e => e.Name));

    public static Example Named(string name) => All.Single(e => e.Name == name);
}
