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
