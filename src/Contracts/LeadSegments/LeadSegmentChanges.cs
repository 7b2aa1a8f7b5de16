using System.Text.Json;
using System.Text.Json.Nodes;

namespace Contracts.LeadSegments;

/// <summary>
/// Builds a lead-segment PATCH body: only the fields set here are sent, so everything else stays as it is.
/// </summary>
public sealed class LeadSegmentChanges
{
    readonly JsonObject _body = new();

    /// <summary>A string of at least one character, or null to clear the description.</summary>
    public LeadSegmentChanges Description(string? description) => Set("description", description);

    public LeadSegmentChanges Code(string code) => Set("code", code);

    public LeadSegmentChanges EarliestCallbackHours(int? hours) => Set("earliestCallbackHours", hours);

    public LeadSegmentChanges LatestCallbackHours(int? hours) => Set("latestCallbackHours", hours);

    public JsonElement ToJson() => JsonSerializer.SerializeToElement(_body);

    LeadSegmentChanges Set(string field, JsonNode? value)
    {
        _body[field] = value;
        return this;
    }
}
