using Contracts;
using Contracts.LeadSegments;
using Worker.Messaging;

namespace Worker.LeadSegments;

public sealed class LeadSegmentFailures : ICommandFailures
{
    public CommandResult Unreadable(string? correlationId, Guid? messageId, UnreadableReason reason, string detail) =>
        new LeadSegmentUpdateFailed
        {
            CorrelationId = correlationId, CommandMessageId = messageId, Status = 400,
            Body = LeadSegmentErrors.Body([LeadSegmentErrors.Unreadable(detail)]),
        };

    public CommandResult Unexpected(string? correlationId, Guid? messageId) =>
        new LeadSegmentUpdateFailed
        {
            CorrelationId = correlationId, CommandMessageId = messageId, Status = 500,
            Body = LeadSegmentErrors.Body([LeadSegmentErrors.Internal()]),
        };
}
