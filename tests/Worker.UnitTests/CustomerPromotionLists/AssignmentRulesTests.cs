using Worker.CustomerPromotionLists;

namespace Worker.UnitTests.CustomerPromotionLists;

public sealed class AssignmentRulesTests
{
    static readonly DateTimeOffset Created = new(2016, 8, 22, 14, 43, 17, TimeSpan.Zero);
    static readonly DateTimeOffset Now = new(2026, 11, 22, 10, 0, 5, 678, TimeSpan.Zero);

    static readonly CustomerPromotionList Assignment = new()
    {
        Id = 123, CustomerId = 1335, PromotionListId = 9, CustomerReference = "C-002", PromotionListReference = "RP-001",
        Organization = "Lyon", DateCreated = Created, LastUpdated = Created,
    };

    static readonly Customer Cus1 = new() { Id = 111, Reference = "C-111", Name = "cus1" };
    static readonly PromotionList List777 = new() { Id = 777, Reference = "PL-777" };

    [Fact]
    public void The_links_and_their_references_change_and_lastUpdated_moves_to_the_second()
    {
        var (updated, refusal) = AssignmentRules.Apply(Assignment, Cus1, List777, Now);

        Assert.Null(refusal);
        Assert.Equal(Assignment with
        {
            CustomerId = 111, CustomerReference = "C-111", PromotionListId = 777, PromotionListReference = "PL-777",
            LastUpdated = new DateTimeOffset(2026, 11, 22, 10, 0, 5, TimeSpan.Zero),
        }, updated);
    }

    [Fact]
    public void A_list_for_all_customers_is_refused()
    {
        var (updated, refusal) = AssignmentRules.Apply(Assignment, Cus1, List777 with { ApplyToAllCustomers = true }, Now);

        Assert.Null(updated);
        Assert.Equal((400, "apply_to_all_customers"), (refusal!.Status, refusal.Error));
    }

    [Fact]
    public void The_success_body_has_the_documented_shape()
    {
        var body = AssignmentRules.SuccessBody(Assignment, new Customer { Id = 1335, Reference = "C-002", Name = "cus2" },
            new PromotionList { Id = 9, Reference = "RP-001" });

        Assert.Equal("""{"id":123,"customerReference":"C-002","promotionListReference":"RP-001","customer":{"id":1335,"reference":"C-002","name":"cus2","href":"/api/v1.0/customers/1335"},"promotionList":{"id":9,"reference":"RP-001","href":"/api/v1.0/promotionLists/9"},"organization":"Lyon","dateCreated":"2016-08-22T14:43:17Z","lastUpdated":"2016-08-22T14:43:17Z"}""",
            body.GetRawText());
    }
}
