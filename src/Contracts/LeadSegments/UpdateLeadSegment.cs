using System.Text.Json;

namespace Contracts.LeadSegments;

/// <summary>
/// PATCH /enterprises/{enterprise}/lead-segments/{id} as a command, sent to the queue <c>update-lead-segment</c>.
/// The PATCH body travels verbatim so that an absent field and a null field stay apart and wrong types reach the
/// worker, which answers them with the documented 400 instead of failing to deserialize.
/// </summary>
public sealed record UpdateLeadSegment
{
    public const string Queue = "update-lead-segment";

    public string? CorrelationId { get; init; }
    public string? Enterprise { get; init; }
    public string? Id { get; init; }
    public JsonElement Body { get; init; }

    /// <summary>
    /// The routing key on the partitioned exchange (docs/scale-out.md): the same for every command of one lead segment,
    /// so they reach one partition in the order they were sent.
    /// </summary>
    public string PartitionKey() => $"{Enterprise}/{Id}";

    public static UpdateLeadSegment Create(string correlationId, string enterprise, string id, LeadSegmentChanges changes) =>
        new() { CorrelationId = correlationId, Enterprise = enterprise, Id = id, Body = changes.ToJson() };
}
