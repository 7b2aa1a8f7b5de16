using Contracts.LeadSegments;
using System.Text.Json;
using Worker.Commands;
using Worker.LeadSegments;

namespace Worker.UnitTests.LeadSegments;

public sealed class LeadSegmentRulesTests
{
    static readonly DateTimeOffset Created = new(2022, 8, 17, 19, 5, 21, 362, TimeSpan.Zero);
    static readonly DateTimeOffset Now = new DateTimeOffset(2026, 11, 22, 10, 0, 0, 123, TimeSpan.Zero).AddTicks(4567);

    static readonly LeadSegment Current = new()
    {
        Id = "1234", Code = "NEWCUSTOMER", Description = "New customer",
        EarliestCallbackHours = 2, LatestCallbackHours = 8, CreatedAt = Created, UpdatedAt = Created,
    };

    static LeadSegmentPatch Patch(Optional<string?> description = default, Optional<string> code = default,
        Optional<int?> earliest = default, Optional<int?> latest = default) => new(description, code, earliest, latest);

    [Fact]
    public void Present_fields_change_absent_fields_stay_and_updatedAt_moves()
    {
        var (updated, refusal) = LeadSegmentRules.Apply(Current, Patch(code: Optional<string>.Of("X")), Now);

        Assert.Null(refusal);
        Assert.Equal("X", updated!.Code);
        Assert.Equal("New customer", updated.Description);
        Assert.Equal(2, updated.EarliestCallbackHours);
        Assert.Equal(Created, updated.CreatedAt);
        Assert.Equal(new DateTimeOffset(2026, 11, 22, 10, 0, 0, 123, TimeSpan.Zero), updated.UpdatedAt);
    }

    [Fact]
    public void A_null_description_clears_it()
    {
        var (updated, _) = LeadSegmentRules.Apply(Current, Patch(description: Optional<string?>.Of(null)), Now);

        Assert.Null(updated!.Description);
    }

    [Theory]
    [InlineData(9, null)]
    [InlineData(null, 1)]
    [InlineData(5, 4)]
    public void Earliest_after_latest_is_refused_with_the_documented_code(int? earliest, int? latest)
    {
        var patch = Patch(
            earliest: earliest is null ? default : Optional<int?>.Of(earliest),
            latest: latest is null ? default : Optional<int?>.Of(latest));

        var (updated, refusal) = LeadSegmentRules.Apply(Current, patch, Now);

        Assert.Null(updated);
        Assert.Equal("LEAD_SEGMENT_EARLIEST_CALLBACK_HOURS_GREATHER_THAN_LATEST_CALLBACK_HOURS", refusal!.Code);
        Assert.Equal("422", refusal.StatusCode);
        Assert.NotNull(refusal.Arguments);
    }

    [Theory]
    [InlineData(8, 8)]
    [InlineData(0, null)]
    public void Equal_hours_or_one_side_cleared_are_accepted(int? earliest, int? latest)
    {
        var (updated, refusal) = LeadSegmentRules.Apply(Current,
            Patch(earliest: Optional<int?>.Of(earliest), latest: Optional<int?>.Of(latest)), Now);

        Assert.Null(refusal);
        Assert.Equal(earliest, updated!.EarliestCallbackHours);
    }

    [Fact]
    public void A_soft_deleted_lead_segment_is_not_live()
    {
        Assert.True(LeadSegmentRules.IsLive(Current, deletedInStore: false));
        Assert.False(LeadSegmentRules.IsLive(Current with { DeletedAt = Now }, deletedInStore: false));
        Assert.False(LeadSegmentRules.IsLive(Current, deletedInStore: true));
    }

    [Fact]
    public void The_success_body_has_the_documented_fields_and_millisecond_utc_timestamps()
    {
        var data = LeadSegmentRules.SuccessBody(Current).GetProperty("data");

        Assert.Equal(["code", "createdAt", "deletedAt", "description", "earliestCallbackHours", "id", "latestCallbackHours", "updatedAt"],
            data.EnumerateObject().Select(p => p.Name).Order());
        Assert.Equal("2022-08-17T19:05:21.362Z", data.GetProperty("createdAt").GetString());
        Assert.Equal(JsonValueKind.Null, data.GetProperty("deletedAt").ValueKind);
    }

    [Fact]
    public void Error_items_carry_message_code_type_and_a_string_status_code()
    {
        var body = LeadSegmentErrors.Body([LeadSegmentErrors.LeadSegmentNotFound("1"), LeadSegmentErrors.CodeInUse("X")]);

        var items = body.GetProperty("errors").EnumerateArray().ToList();
        Assert.Equal("404", items[0].GetProperty("statusCode").GetString());
        Assert.False(items[0].TryGetProperty("arguments", out _));
        Assert.Equal("LEAD_SEGMENT_CODE_ALREADY_IN_USE", items[1].GetProperty("code").GetString());
        Assert.Equal("X", items[1].GetProperty("arguments").GetProperty("code").GetString());
    }
}
