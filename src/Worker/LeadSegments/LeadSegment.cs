using System.Text.Json.Serialization;

namespace Worker.LeadSegments;

/// <summary>A lead segment of one enterprise, stored in <c>mt_doc_leadsegment</c> with the enterprise as tenant.</summary>
public sealed record LeadSegment : IVersionedDocument
{
    public required string Id { get; init; }
    public required string Code { get; init; }
    public string? Description { get; init; }
    public int? EarliestCallbackHours { get; init; }
    public int? LatestCallbackHours { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>Set when the lead segment was soft-deleted: it then answers as not found.</summary>
    public DateTimeOffset? DeletedAt { get; init; }

    /// <summary>Marten's <c>mt_version</c>, read with the document and checked when it is written back.</summary>
    [JsonIgnore]
    public Guid Version { get; set; }

    /// <summary>Marten's <c>mt_deleted</c>: soft-deleted in the store.</summary>
    [JsonIgnore]
    public bool Deleted { get; set; }
}
