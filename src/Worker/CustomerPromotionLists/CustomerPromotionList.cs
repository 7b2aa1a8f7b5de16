using System.Text.Json.Serialization;

namespace Worker.CustomerPromotionLists;

/// <summary>A Valomnia customer, in <c>mt_doc_customer</c> (a Long id, so a bigint id column).</summary>
public sealed record Customer
{
    public required long Id { get; init; }
    public required string Reference { get; init; }
    public required string Name { get; init; }
    public string? Organization { get; init; }
}

/// <summary>A promotion list, in <c>mt_doc_promotionlist</c>.</summary>
public sealed record PromotionList
{
    public required long Id { get; init; }
    public required string Reference { get; init; }
    public string? Name { get; init; }

    /// <summary>A list that applies to every customer is never assigned to one customer.</summary>
    public bool ApplyToAllCustomers { get; init; }

    public string? Organization { get; init; }
}

/// <summary>
/// An assignment of one customer to one promotion list, in <c>mt_doc_customerpromotionlist</c>. The references are
/// kept beside the ids because the API answers with them and addresses assignments by them.
/// </summary>
public sealed record CustomerPromotionList : IVersionedDocument
{
    public required long Id { get; init; }
    public required long CustomerId { get; init; }
    public required long PromotionListId { get; init; }
    public required string CustomerReference { get; init; }
    public required string PromotionListReference { get; init; }
    public string? Organization { get; init; }
    public DateTimeOffset DateCreated { get; init; }
    public DateTimeOffset LastUpdated { get; init; }

    /// <summary>Marten's <c>mt_version</c>, read with the document and checked when it is written back.</summary>
    [JsonIgnore]
    public Guid Version { get; set; }
}
