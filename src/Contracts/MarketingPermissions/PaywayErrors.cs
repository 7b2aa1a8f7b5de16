using System.Text.Json;
using System.Text.Json.Nodes;

namespace Contracts.MarketingPermissions;

/// <summary>A Payway error: one per response, naming the offending parameter where there is one.</summary>
public sealed record PaywayError(int Status, string Code, string Message, string? Field = null)
{
    /// <summary>The documented body: <c>{"code": "...", "message": "...", "field": "..."}</c>.</summary>
    public JsonElement Body()
    {
        var body = new JsonObject { ["code"] = Code, ["message"] = Message };
        if (Field is not null) body["field"] = Field;
        return JsonSerializer.SerializeToElement(body);
    }

    public ApiAnswer Answer() => new(Status, Body());
}

/// <summary>The error catalog of Payway's marketing-permissions update, with the documented codes.</summary>
public sealed class PaywayErrors : IApiErrors
{
    PaywayErrors() { }

    public const string InvalidParameter = "invalid_parameter";
    public const string UnknownParameter = "unknown_parameter";
    public const string JsonParserError = "json_parser_error";
    public const string InvalidContentTypeError = "invalid_content_type_error";
    public const string NotFound = "not_found";
    public const string InternalServerError = "internal_server_error";
    /// <summary>Not documented by Payway: see <see cref="IApiErrors.Superseded"/>.</summary>
    public const string CommandSuperseded = "command_superseded";

    public static PaywayError Invalid(string field, string problem) =>
        new(400, InvalidParameter, $"Validation error on field {field}: {problem}", field);

    public static PaywayError Unknown(string field) =>
        new(400, UnknownParameter, $"Unknown parameter {field}", field);

    public static readonly PaywayError InvalidJson = new(400, JsonParserError, "Invalid json in request body");

    public static readonly PaywayError InvalidContentType =
        new(400, InvalidContentTypeError, "The Content-Type of the request must be application/json");

    public static PaywayError AccountNotFound(string accountId) =>
        new(404, NotFound, $"Account {accountId} could not be found", "account_id");

    public static PaywayError PermissionNotFound(string field, string permissionId) =>
        new(404, NotFound, $"Marketing permission {permissionId} could not be found", field);

    public static ApiAnswer Unreadable(UnreadableReason reason, string detail) => (reason switch
    {
        UnreadableReason.ContentType => InvalidContentType,
        UnreadableReason.TooLarge => Invalid("body", detail),
        _ => InvalidJson,
    }).Answer();

    public static ApiAnswer Unexpected() =>
        new PaywayError(500, InternalServerError, "Something unexpected happened server side").Answer();

    public static ApiAnswer Superseded(DateTimeOffset failedAt) => new PaywayError(409, CommandSuperseded,
        $"The account has been updated by a later command since this one failed at {failedAt:O}").Answer();

    public static ApiAnswer Unauthenticated() => new PaywayError(401, "unauthorized", "A valid bearer token is required").Answer();

    public static ApiAnswer Forbidden(string needed) =>
        new PaywayError(403, "forbidden", $"The token does not grant {needed}").Answer();

    public static ApiAnswer TimedOut(TimeSpan waited) => new PaywayError(504, "gateway_timeout",
        $"No answer within {waited.TotalSeconds:0.#} s; the update may still be applied").Answer();
}
