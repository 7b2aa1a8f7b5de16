using System.Text.Json;
using Contracts.LeadSegments;
using Worker.Commands;

namespace Worker.LeadSegments;

/// <summary>The fields a lead-segment PATCH sets; an absent field stays as it is.</summary>
public sealed record LeadSegmentPatch(
    Optional<string?> Description,
    Optional<string> Code,
    Optional<int?> EarliestCallbackHours,
    Optional<int?> LatestCallbackHours)
{
    public const int CodeMaxLength = 255;

    /// <summary>
    /// Reads the command as the documented API reads its path and body: every broken field is reported, not only
    /// the first, so a caller can fix them all at once.
    /// </summary>
    public static (LeadSegmentPatch? Patch, IReadOnlyList<ErrorItem> Errors) Read(UpdateLeadSegment command)
    {
        var errors = new List<ErrorItem>();
        RequireText(command.CorrelationId, "correlationId", errors);
        RequireText(command.Enterprise, "enterprise", errors);
        RequireText(command.Id, "id", errors);
        if (command.Body.ValueKind != JsonValueKind.Object)
        {
            errors.Add(LeadSegmentErrors.Invalid("body", "must be a JSON object"));
            return (null, errors);
        }

        var body = command.Body;
        var description = Optional<string?>.Absent;
        if (body.TryGetProperty("description", out var d))
        {
            if (d.ValueKind == JsonValueKind.Null) description = Optional<string?>.Of(null);
            else if (d.ValueKind == JsonValueKind.String && d.GetString()!.Length >= 1) description = Optional<string?>.Of(d.GetString());
            else errors.Add(LeadSegmentErrors.Invalid("description", "must be a string of at least 1 character, or null"));
        }

        var code = Optional<string>.Absent;
        if (body.TryGetProperty("code", out var c))
        {
            if (c.ValueKind == JsonValueKind.String && LengthInCharacters(c.GetString()!) is >= 1 and <= CodeMaxLength)
                code = Optional<string>.Of(c.GetString()!);
            else errors.Add(LeadSegmentErrors.Invalid("code", $"must be a string of 1 to {CodeMaxLength} characters"));
        }

        var earliest = ReadHours(body, "earliestCallbackHours", errors);
        var latest = ReadHours(body, "latestCallbackHours", errors);
        return errors.Count > 0 ? (null, errors) : (new LeadSegmentPatch(description, code, earliest, latest), errors);
    }

    static Optional<int?> ReadHours(JsonElement body, string field, List<ErrorItem> errors)
    {
        if (!body.TryGetProperty(field, out var value)) return Optional<int?>.Absent;
        if (value.ValueKind == JsonValueKind.Null) return Optional<int?>.Of(null);
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var hours) && hours >= 0) return Optional<int?>.Of(hours);
        errors.Add(LeadSegmentErrors.Invalid(field, "must be a non-negative integer, or null"));
        return Optional<int?>.Absent;
    }

    static void RequireText(string? value, string field, List<ErrorItem> errors)
    {
        if (string.IsNullOrEmpty(value)) errors.Add(LeadSegmentErrors.Invalid(field, "is required and must be a non-empty string"));
    }

    // Lengths count characters (Unicode scalar values) as JSON Schema does, not UTF-16 code units.
    static int LengthInCharacters(string text) => text.EnumerateRunes().Count();
}
