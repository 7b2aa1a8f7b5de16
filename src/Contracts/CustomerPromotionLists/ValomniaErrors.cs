using System.Text.Json;
using System.Text.Json.Nodes;

namespace Contracts.CustomerPromotionLists;

/// <summary>A Valomnia error: <c>{"error": "...", "error_description": "..."}</c>.</summary>
public sealed record ValomniaError(int Status, string Error, string Description)
{
    public JsonElement Body() =>
        JsonSerializer.SerializeToElement(new JsonObject { ["error"] = Error, ["error_description"] = Description });

    public ApiAnswer Answer() => new(Status, Body());
}

/// <summary>The error catalog of Valomnia's customer promotion list update, with the documented codes and wording.</summary>
public sealed class ValomniaErrors : IApiErrors
{
    ValomniaErrors() { }

    public const string InvalidParamType = "invalid_param_type";
    public const string MissingParam = "missing_param";
    public const string NotFound = "not_found";
    public const string AlreadyAssigned = "already_assigned";
    public const string SaveFailed = "save_failed";
    public const string ServerError = "server_error";

    /// <summary>Not documented by Valomnia, which only says such an update "can not be achieved".</summary>
    public const string AppliesToAllCustomers = "apply_to_all_customers";

    /// <summary>Not documented by Valomnia: a message that is not a JSON command at all.</summary>
    public const string InvalidRequest = "invalid_request";
    /// <summary>Not documented by Valomnia: see <see cref="IApiErrors.Superseded"/>.</summary>
    public const string CommandSuperseded = "command_superseded";

    public static ValomniaError WrongType(string parameter) =>
        new(400, InvalidParamType, $"The type of parameter {parameter} you provided is not valid for this request.");

    public static ValomniaError Missing(string parameter) => new(400, MissingParam, $"{parameter} parameter is missing");

    public static ValomniaError Unknown(string entity, long id) => new(404, NotFound, $"The {entity} with the id {id} doesn't exist.");

    public static ValomniaError UnknownByReference(string customerReference, string promotionListReference) =>
        new(404, NotFound, $"The customerPromotionList with the customer reference {customerReference} and the promotionList reference {promotionListReference} doesn't exist.");

    public static readonly ValomniaError Assigned = new(400, AlreadyAssigned, "customer is already assigned to promotionList.");

    public static ValomniaError AppliesToAll(long promotionListId) =>
        new(400, AppliesToAllCustomers, $"The promotionList with the id {promotionListId} applies to all customers and can't be assigned to one customer.");

    public static readonly ValomniaError NotSaved = new(400, SaveFailed, "Failed to save instance");

    public static ApiAnswer Unreadable(UnreadableReason reason, string detail) => new ValomniaError(400, InvalidRequest, reason switch
    {
        UnreadableReason.ContentType => "The request content type must be application/json.",
        UnreadableReason.TooLarge => "The request body is too large.",
        _ => "The request body is not a valid JSON command.",
    }).Answer();

    public static ApiAnswer Unexpected() => new ValomniaError(500, ServerError, "Oops! Something went wrong...").Answer();

    public static ApiAnswer Superseded(DateTimeOffset failedAt) => new ValomniaError(409, CommandSuperseded,
        $"The customerPromotionList has been updated by a later command since this one failed at {failedAt:O}.").Answer();

    // Valomnia's error shape is OAuth 2's, so its own codes are used for token problems.
    public static ApiAnswer Unauthenticated() =>
        new ValomniaError(401, "invalid_token", "A valid bearer token is required").Answer();

    public static ApiAnswer Forbidden(string needed) =>
        new ValomniaError(403, "insufficient_scope", $"The token does not grant {needed}").Answer();

    public static ApiAnswer TimedOut(TimeSpan waited) => new ValomniaError(504, "gateway_timeout",
        $"No answer within {waited.TotalSeconds:0.#} s; the update may still be applied").Answer();
}
