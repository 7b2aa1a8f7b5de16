using Contracts.MarketingPermissions;
using Worker.MarketingPermissions;

namespace Worker.UnitTests.MarketingPermissions;

public sealed class MarketingPermissionRulesTests
{
    static readonly DateTimeOffset Now = new(2026, 11, 22, 10, 0, 0, TimeSpan.Zero);

    static readonly Dictionary<string, MarketingPermission> Defined = new()
    {
        ["news"] = new() { Id = "news", Name = "Newsletter", Type = "email" },
        ["offers"] = new() { Id = "offers", Name = "Offers", Type = "email" },
        ["old"] = new() { Id = "old", Name = "Catalogue", Type = "letter", Active = false },
    };

    static readonly Account Account = new()
    {
        Id = "585a4768edce2c5e6f000001",
        MarketingPermissions = new() { ["news"] = false, ["old"] = true },
    };

    static MarketingPermissionsRequest Request(params (string Id, bool Enabled)[] permissions) =>
        new(Account.Id, permissions.Select((p, i) => new RequestedPermission(p.Id, p.Enabled, $"marketing_permissions[{i}]")).ToList());

    static (ConsentDecision? Decision, PaywayError? Refusal) Apply(MarketingPermissionsRequest request) =>
        MarketingPermissionRules.Apply(Account, request, Defined, Now, "corr", null);

    [Fact]
    public void Each_changed_value_becomes_one_history_entry_with_old_and_new_value()
    {
        var (decision, refusal) = Apply(Request(("news", true), ("offers", false)));

        Assert.Null(refusal);
        Assert.True(decision!.Account.MarketingPermissions["news"]);
        Assert.False(decision.Account.MarketingPermissions["offers"]);
        Assert.Equal(Now, decision.Account.UpdatedAt);
        Assert.Collection(decision.Changes,
            c => Assert.Equal(("news", (bool?)false, true, "corr"), (c.PermissionId, c.OldValue, c.NewValue, c.CorrelationId)),
            c => Assert.Equal(("offers", (bool?)null, false), (c.PermissionId, c.OldValue, c.NewValue)));
    }

    [Fact]
    public void Setting_a_value_it_already_has_changes_nothing()
    {
        var (decision, _) = Apply(Request(("news", false)));

        Assert.Empty(decision!.Changes);
        Assert.Same(Account, decision.Account);
    }

    [Fact]
    public void An_undefined_permission_refuses_the_whole_request_with_not_found()
    {
        var (decision, refusal) = Apply(Request(("news", true), ("nope", true)));

        Assert.Null(decision);
        Assert.Equal((404, "not_found", "marketing_permissions[1].id"), (refusal!.Status, refusal.Code, refusal.Field));
        Assert.Contains("nope", refusal.Message);
        Assert.False(Account.MarketingPermissions["news"]);
    }

    [Fact]
    public void An_inactive_permission_can_be_withdrawn_but_not_given()
    {
        Assert.Equal("invalid_parameter", Apply(Request(("old", true))).Refusal!.Code);
        Assert.False(Apply(Request(("old", false))).Decision!.Account.MarketingPermissions["old"]);
    }
}
