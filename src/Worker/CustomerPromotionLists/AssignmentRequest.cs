using System.Text.Json;
using Contracts.CustomerPromotionLists;

namespace Worker.CustomerPromotionLists;

/// <summary>Which assignment a command addresses: by its id, or by the references of its customer and promotion list.</summary>
public abstract record AssignmentAddress
{
    public sealed record ById(long Id) : AssignmentAddress;

    public sealed record ByReference(string CustomerReference, string PromotionListReference) : AssignmentAddress;
}

/// <summary>The documented request: the assignment, and the customer and promotion list it should link.</summary>
public sealed record AssignmentRequest(AssignmentAddress Address, long PromotionListId, long CustomerId)
{
    /// <summary>Reads the command in the order of the documented parameters: id, promotionListId, customerId.</summary>
    public static (AssignmentRequest? Request, ValomniaError? Error) Read(UpdateCustomerPromotionList command)
    {
        if (string.IsNullOrEmpty(command.CorrelationId)) return (null, ValomniaErrors.Missing("correlationId"));

        var (address, addressError) = ReadAddress(command.Id, command.Reference);
        if (addressError is not null) return (null, addressError);

        var body = command.Body.ValueKind == JsonValueKind.Object ? command.Body : default;
        var (promotionListId, listError) = ReadLong(body, "promotionListId");
        if (listError is not null) return (null, listError);
        var (customerId, customerError) = ReadLong(body, "customerId");
        if (customerError is not null) return (null, customerError);

        return (new AssignmentRequest(address!, promotionListId, customerId), null);
    }

    static (AssignmentAddress?, ValomniaError?) ReadAddress(JsonElement? id, JsonElement? reference)
    {
        var hasId = id is { ValueKind: not (JsonValueKind.Null or JsonValueKind.Undefined) };
        var hasReference = reference is { ValueKind: not (JsonValueKind.Null or JsonValueKind.Undefined) };
        if (hasId && hasReference) return (null, ValomniaErrors.WrongType("reference"));
        if (hasId)
        {
            return id!.Value.ValueKind == JsonValueKind.Number && id.Value.TryGetInt64(out var value)
                ? (new AssignmentAddress.ById(value), null)
                : (null, ValomniaErrors.WrongType("id"));
        }
        if (!hasReference) return (null, ValomniaErrors.Missing("id"));
        if (reference!.Value.ValueKind != JsonValueKind.Object) return (null, ValomniaErrors.WrongType("reference"));

        var (customer, customerError) = ReadReference(reference.Value, "customerId");
        if (customerError is not null) return (null, customerError);
        var (list, listError) = ReadReference(reference.Value, "promotionListId");
        if (listError is not null) return (null, listError);
        return (new AssignmentAddress.ByReference(customer!, list!), null);
    }

    static (string?, ValomniaError?) ReadReference(JsonElement reference, string name)
    {
        if (!reference.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return (null, ValomniaErrors.Missing(name));
        return value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } text
            ? (text, null)
            : (null, ValomniaErrors.WrongType(name));
    }

    // A Long is a JSON integer within 64 bits: a string, a fraction, a boolean or a larger number is the wrong type.
    static (long, ValomniaError?) ReadLong(JsonElement body, string name)
    {
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
            return (0, ValomniaErrors.Missing(name));
        return value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out var number)
            ? (number, null)
            : (0, ValomniaErrors.WrongType(name));
    }
}
