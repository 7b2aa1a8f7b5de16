using MassTransit;

namespace Contracts.LeadSegments;

/// <summary>Published to the fanout exchange <c>lead-segment-updated</c>: status 200, body <c>{"data": {...}}</c>.</summary>
[EntityName(Exchange)]
public sealed record LeadSegmentUpdated : CommandResult
{
    public const string Exchange = "lead-segment-updated";

    public string? Enterprise { get; init; }
    public string? Id { get; init; }
}

/// <summary>Published to the fanout exchange <c>lead-segment-update-failed</c>: body <c>{"errors": [...]}</c>.</summary>
[EntityName(Exchange)]
public sealed record LeadSegmentUpdateFailed : CommandResult
{
    public const string Exchange = "lead-segment-update-failed";

    public string? Enterprise { get; init; }
    public string? Id { get; init; }
}
