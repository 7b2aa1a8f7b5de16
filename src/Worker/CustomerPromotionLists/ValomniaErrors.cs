using System.Text.Json;
using System.Text.Json.Nodes;

namespace Worker.CustomerPromotionLists;

/// <summary>A Valomnia error: <c>{"error": "...", "error_description": "..."}</c>.</summary>
public sealed record ValomniaError(int Status, string Error, string Description)
{
    public JsonElement Body() =>
        JsonSerializer.SerializeToElement(new JsonObject { ["error"] = Error, ["error_description"] = Description });
}

/// <summary>The error catalog of Valomnia's customer promotion list update, with the documented codes and wording.</summary>
public static class ValomniaErrors
{
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

    public static readonly ValomniaError UnexpectedFailure = new(500, ServerError, "Oops! Something went wrong...");

    public static readonly ValomniaError NotJson = new(400, InvalidRequest, "The request body is not a valid JSON command.");

    public static readonly ValomniaError TooLarge = new(400, InvalidRequest, "The request body is too large.");

    public static readonly ValomniaError WrongContentType = new(400, InvalidRequest, "The request content type must be application/json.");
}
