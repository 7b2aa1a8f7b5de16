using Contracts.CustomerPromotionLists;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Worker.CustomerPromotionLists;

/// <summary>The rules of an assignment update, free of storage.</summary>
public static class AssignmentRules
{
    /// <summary>The API version in the hrefs the documented answer carries.</summary>
    public const string ApiVersion = "v1.0";

    /// <summary>
    /// Points the assignment at the customer and promotion list; only those, their references and lastUpdated change.
    /// </summary>
    public static (CustomerPromotionList? Updated, ValomniaError? Refusal) Apply(CustomerPromotionList current,
        Customer customer, PromotionList promotionList, DateTimeOffset now)
    {
        if (promotionList.ApplyToAllCustomers) return (null, ValomniaErrors.AppliesToAll(promotionList.Id));
        return (current with
        {
            CustomerId = customer.Id,
            CustomerReference = customer.Reference,
            PromotionListId = promotionList.Id,
            PromotionListReference = promotionList.Reference,
            LastUpdated = TruncateToSeconds(now),
        }, null);
    }

    /// <summary>The documented 200 body.</summary>
    public static JsonElement SuccessBody(CustomerPromotionList assignment, Customer customer, PromotionList promotionList) =>
        JsonSerializer.SerializeToElement(new JsonObject
        {
            ["id"] = assignment.Id,
            ["customerReference"] = assignment.CustomerReference,
            ["promotionListReference"] = assignment.PromotionListReference,
            ["customer"] = new JsonObject
            {
                ["id"] = customer.Id,
                ["reference"] = customer.Reference,
                ["name"] = customer.Name,
                ["href"] = $"/api/{ApiVersion}/customers/{customer.Id}",
            },
            ["promotionList"] = new JsonObject
            {
                ["id"] = promotionList.Id,
                ["reference"] = promotionList.Reference,
                ["href"] = $"/api/{ApiVersion}/promotionLists/{promotionList.Id}",
            },
            ["organization"] = assignment.Organization,
            ["dateCreated"] = Timestamp(assignment.DateCreated),
            ["lastUpdated"] = Timestamp(assignment.LastUpdated),
        });

    public static string Timestamp(DateTimeOffset value) =>
        value.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    // Valomnia shows whole seconds; storing the same keeps what is read back equal to what was answered.
    static DateTimeOffset TruncateToSeconds(DateTimeOffset value) =>
        new(value.UtcTicks - value.UtcTicks % TimeSpan.TicksPerSecond, TimeSpan.Zero);
}
