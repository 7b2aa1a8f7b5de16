using System.Text.Json;
using System.Text.Json.Nodes;

namespace Contracts.LeadSegments;

/// <summary>One item of the documented <c>{"errors": [...]}</c> envelope.</summary>
public sealed record ErrorItem(string Message, string Code, string Type, string StatusCode, JsonObject? Arguments);

/// <summary>
/// The error catalog of the lead-segment API. Codes are spelled as documented, including the misspelled GREATHER.
/// </summary>
public sealed class LeadSegmentErrors : IApiErrors
{
    LeadSegmentErrors() { }

    public const string InvalidCommand = "INVALID_COMMAND";
    public const string ValidationError = "VALIDATION_ERROR";
    public const string NotFound = "LEAD_SEGMENT_NOT_FOUND";
    public const string CodeAlreadyInUse = "LEAD_SEGMENT_CODE_ALREADY_IN_USE";
    public const string EarliestAfterLatest = "LEAD_SEGMENT_EARLIEST_CALLBACK_HOURS_GREATHER_THAN_LATEST_CALLBACK_HOURS";
    public const string InternalServerError = "INTERNAL_SERVER_ERROR";
    /// <summary>Not documented by the API: see <see cref="IApiErrors.Superseded"/>.</summary>
    public const string CommandSuperseded = "COMMAND_SUPERSEDED";

    public static ErrorItem Invalid(string field, string rule) =>
        new($"{field} {rule}", ValidationError, "VALIDATION", "400", new JsonObject { ["field"] = field });

    public static ErrorItem LeadSegmentNotFound(string id) =>
        new($"Lead segment {id} was not found", NotFound, "NOT_FOUND", "404", null);

    public static ErrorItem CodeInUse(string code) =>
        new($"The code {code} is already used by another lead segment", CodeAlreadyInUse, "BUSINESS_RULE", "422",
            new JsonObject { ["code"] = code });

    public static ErrorItem CallbackHoursOutOfOrder(int earliest, int latest) =>
        new($"earliestCallbackHours ({earliest}) is greater than latestCallbackHours ({latest})", EarliestAfterLatest,
            "BUSINESS_RULE", "422",
            new JsonObject { ["earliestCallbackHours"] = earliest, ["latestCallbackHours"] = latest });

    public static ApiAnswer Unreadable(UnreadableReason reason, string detail) =>
        Answer(new($"The command could not be read: {detail}", InvalidCommand, "BAD_REQUEST", "400", null));

    public static ApiAnswer Unexpected() =>
        Answer(new("Something unexpected happened while updating the lead segment", InternalServerError, "INTERNAL", "500", null));

    public static ApiAnswer Superseded(DateTimeOffset failedAt) =>
        Answer(new($"The lead segment has been updated by a later command since this one failed at {failedAt:O}",
            CommandSuperseded, "CONFLICT", "409", new JsonObject { ["failedAt"] = failedAt.ToString("O") }));

    public static ApiAnswer Unauthenticated() =>
        Answer(new("A valid bearer token is required", "UNAUTHORIZED", "AUTHENTICATION", "401", null));

    public static ApiAnswer Forbidden(string needed) =>
        Answer(new($"The token does not grant {needed}", "FORBIDDEN", "AUTHORIZATION", "403", null));

    public static ApiAnswer TimedOut(TimeSpan waited) =>
        Answer(new($"No answer within {waited.TotalSeconds:0.#} s; the update may still be applied", "GATEWAY_TIMEOUT",
            "TIMEOUT", "504", null));

    static ApiAnswer Answer(ErrorItem error) => new(int.Parse(error.StatusCode), Body([error]));

    /// <summary>The documented failure body; an item without arguments leaves the key out.</summary>
    public static JsonElement Body(IEnumerable<ErrorItem> errors)
    {
        var items = new JsonArray();
        foreach (var error in errors)
        {
            var item = new JsonObject
            {
                ["message"] = error.Message,
                ["code"] = error.Code,
                ["type"] = error.Type,
                ["statusCode"] = error.StatusCode,
            };
            if (error.Arguments is not null) item["arguments"] = error.Arguments.DeepClone();
            items.Add(item);
        }
        return JsonSerializer.SerializeToElement(new JsonObject { ["errors"] = items });
    }
}
