using Contracts.LeadSegments;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Worker.LeadSegments;

/// <summary>The business rules of a lead-segment PATCH, free of storage so they can be checked on their own.</summary>
public static class LeadSegmentRules
{
    /// <summary>Applies the patch to the current lead segment, or says which rule refuses it.</summary>
    public static (LeadSegment? Updated, ErrorItem? Refusal) Apply(LeadSegment current, LeadSegmentPatch patch,
        DateTimeOffset now)
    {
        var updated = current with
        {
            Description = patch.Description.Or(current.Description),
            Code = patch.Code.Or(current.Code),
            EarliestCallbackHours = patch.EarliestCallbackHours.Or(current.EarliestCallbackHours),
            LatestCallbackHours = patch.LatestCallbackHours.Or(current.LatestCallbackHours),
            UpdatedAt = Truncate(now),
        };
        if (updated is { EarliestCallbackHours: { } earliest, LatestCallbackHours: { } latest } && earliest > latest)
        {
            return (null, LeadSegmentErrors.CallbackHoursOutOfOrder(earliest, latest));
        }
        return (updated, null);
    }

    /// <summary>Soft-deleted lead segments are gone as far as the API is concerned.</summary>
    public static bool IsLive(LeadSegment segment, bool deletedInStore) => !deletedInStore && segment.DeletedAt is null;

    /// <summary>The documented 200 body: <c>{"data": {...}}</c> with ISO-8601 UTC timestamps in milliseconds.</summary>
    public static JsonElement SuccessBody(LeadSegment segment) =>
        JsonSerializer.SerializeToElement(new JsonObject
        {
            ["data"] = new JsonObject
            {
                ["id"] = segment.Id,
                ["description"] = segment.Description,
                ["code"] = segment.Code,
                ["earliestCallbackHours"] = segment.EarliestCallbackHours,
                ["latestCallbackHours"] = segment.LatestCallbackHours,
                ["createdAt"] = Timestamp(segment.CreatedAt),
                ["updatedAt"] = Timestamp(segment.UpdatedAt),
                ["deletedAt"] = segment.DeletedAt is { } deletedAt ? Timestamp(deletedAt) : null,
            },
        });

    public static string Timestamp(DateTimeOffset value) =>
        value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    // Stored at the precision the API shows, so what is read back equals what was answered.
    static DateTimeOffset Truncate(DateTimeOffset value) =>
        new(value.UtcTicks - value.UtcTicks % TimeSpan.TicksPerMillisecond, TimeSpan.Zero);
}
