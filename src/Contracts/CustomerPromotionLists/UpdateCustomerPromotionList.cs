using System.Text.Json;

namespace Contracts.CustomerPromotionLists;

/// <summary>
/// Valomnia's PUT /api/{version}/customerPromotionLists/{id} (or .../reference/{customerId}/{promotionListId}) as a
/// command, sent to the queue <c>update-customer-promotion-list</c>. Exactly one of <see cref="Id"/> (a Long) and
/// <see cref="Reference"/> (<c>{"customerId": "C-002", "promotionListId": "PL-001"}</c>) addresses the assignment.
/// Both stay raw JSON so the worker can answer a mistyped id with the documented invalid_param_type.
/// </summary>
public sealed record UpdateCustomerPromotionList
{
    public const string Queue = "update-customer-promotion-list";

    public string? CorrelationId { get; init; }
    public JsonElement? Id { get; init; }
    public JsonElement? Reference { get; init; }

    /// <summary><c>{"promotionListId": 777, "customerId": 111}</c></summary>
    public JsonElement Body { get; init; }

    /// <summary>
    /// The routing key on the partitioned exchange (docs/scale-out.md): the assignment id (<c>123</c>), or for a command
    /// that addresses it by references, both references (<c>C-002/PL-7</c>).
    /// </summary>
    public string PartitionKey() =>
        Id is { ValueKind: not JsonValueKind.Null } id ? id.ToString()
        : Reference is { ValueKind: JsonValueKind.Object } reference
            ? $"{Text(reference, "customerId")}/{Text(reference, "promotionListId")}"
            : "";

    static string? Text(JsonElement reference, string name) =>
        reference.TryGetProperty(name, out var value) ? value.ToString() : null;

    public static UpdateCustomerPromotionList ById(string correlationId, long id, long promotionListId, long customerId) =>
        new()
        {
            CorrelationId = correlationId,
            Id = JsonSerializer.SerializeToElement(id),
            Body = BodyOf(promotionListId, customerId),
        };

    public static UpdateCustomerPromotionList ByReference(string correlationId, string customerReference,
        string promotionListReference, long promotionListId, long customerId) =>
        new()
        {
            CorrelationId = correlationId,
            Reference = JsonSerializer.SerializeToElement(new { customerId = customerReference, promotionListId = promotionListReference }),
            Body = BodyOf(promotionListId, customerId),
        };

    static JsonElement BodyOf(long promotionListId, long customerId) =>
        JsonSerializer.SerializeToElement(new { promotionListId, customerId });
}
