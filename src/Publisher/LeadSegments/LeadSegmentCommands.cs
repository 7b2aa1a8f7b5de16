using System.CommandLine;
using Contracts.LeadSegments;

namespace Publisher.LeadSegments;

/// <summary><c>lead-segment update --enterprise acme --id 1234 --code REPEATVISITOR [--wait]</c></summary>
public static class LeadSegmentCommands
{
    public static Command Build()
    {
        var enterprise = new Option<string>("--enterprise") { Description = "The enterprise (tenant) of the lead segment", Required = true };
        var id = new Option<string>("--id") { Description = "The lead segment id", Required = true };
        var code = new Option<string?>("--code") { Description = "New code (1 to 255 characters)" };
        var description = new Option<string?>("--description") { Description = "New description; 'null' clears it" };
        var earliest = new Option<string?>("--earliest-callback-hours") { Description = "Non-negative integer; 'null' clears it" };
        var latest = new Option<string?>("--latest-callback-hours") { Description = "Non-negative integer; 'null' clears it" };

        var update = new Command("update", "Publish an update-lead-segment command (PATCH semantics: only the given fields change)")
        {
            enterprise, id, code, description, earliest, latest,
        };
        CommonOptions.AddTo(update);
        update.SetAction((parse, cancellationToken) =>
        {
            var changes = new LeadSegmentChanges();
            if (parse.GetValue(code) is { } newCode) changes.Code(newCode);
            if (parse.GetResult(description) is not null) changes.Description(NullOr(parse.GetValue(description)));
            if (parse.GetResult(earliest) is not null) changes.EarliestCallbackHours(Hours(parse.GetValue(earliest)));
            if (parse.GetResult(latest) is not null) changes.LatestCallbackHours(Hours(parse.GetValue(latest)));
            return CommonOptions.SendAsync(parse, UpdateLeadSegment.Queue,
                correlationId => UpdateLeadSegment.Create(correlationId, parse.GetValue(enterprise)!, parse.GetValue(id)!, changes),
                cancellationToken);
        });

        return new Command("lead-segment", "Pexip Engage lead segments") { update };
    }

    static string? NullOr(string? value) => value is "null" ? null : value;

    static int? Hours(string? value) => NullOr(value) is { } text ? int.Parse(text) : null;
}
