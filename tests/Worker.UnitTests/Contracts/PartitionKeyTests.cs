using Contracts.CustomerPromotionLists;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;

namespace Worker.UnitTests.Contracts;

/// <summary>The routing keys a MassTransit sender gets from the package: docs/scale-out.md's table.</summary>
public sealed class PartitionKeyTests
{
    [Fact]
    public void A_lead_segment_is_keyed_by_enterprise_and_id() =>
        Assert.Equal("acme/1234", UpdateLeadSegment.Create("c", "acme", "1234", new LeadSegmentChanges().Code("X")).PartitionKey());

    [Fact]
    public void An_account_is_keyed_by_its_id_in_any_case()
    {
        var upper = UpdateMarketingPermissions.Create("c", "585A4768EDCE2C5E6F000001", [("5b9707e317c0f859830000c3", true)]);
        var lower = UpdateMarketingPermissions.Create("c", "585a4768edce2c5e6f000001", [("5b9707e317c0f859830000c7", false)]);
        Assert.Equal("585a4768edce2c5e6f000001", lower.PartitionKey());
        Assert.Equal(lower.PartitionKey(), upper.PartitionKey());
    }

    [Fact]
    public void An_assignment_is_keyed_by_its_id_or_by_both_references()
    {
        Assert.Equal("123", UpdateCustomerPromotionList.ById("c", 123, 777, 111).PartitionKey());
        Assert.Equal("C-002/PL-7", UpdateCustomerPromotionList.ByReference("c", "C-002", "PL-7", 777, 111).PartitionKey());
    }

    [Fact]
    public void The_key_is_not_part_of_the_message()
    {
        var json = System.Text.Json.JsonSerializer.Serialize(UpdateLeadSegment.Create("c", "acme", "1234", new LeadSegmentChanges()));
        Assert.DoesNotContain("artition", json);
    }
}
