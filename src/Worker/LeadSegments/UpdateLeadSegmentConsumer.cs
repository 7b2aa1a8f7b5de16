using Contracts.LeadSegments;
using MassTransit;
using Worker.Messaging;
using Worker.Observability;

namespace Worker.LeadSegments;

/// <summary>Answers each update-lead-segment command with lead-segment-updated or lead-segment-update-failed.</summary>
public sealed class UpdateLeadSegmentConsumer(UpdateLeadSegmentHandler handler, CommandAnswers answers) : IConsumer<UpdateLeadSegment>
{
    public async Task Consume(ConsumeContext<UpdateLeadSegment> context)
    {
        var command = context.Message;
        var outcome = await handler.HandleAsync(command, context.MessageId, context.TicketOf(), context.CancellationToken);
        var correlationId = command.CorrelationId ?? context.TransportCorrelationId();

        if (outcome.Succeeded)
        {
            await context.Publish(new LeadSegmentUpdated
            {
                CorrelationId = correlationId, CommandMessageId = context.MessageId, Status = outcome.Status,
                Body = outcome.Body, Enterprise = command.Enterprise, Id = command.Id,
            }, context.CancellationToken);
        }
        else
        {
            await context.Publish(new LeadSegmentUpdateFailed
            {
                CorrelationId = correlationId, CommandMessageId = context.MessageId, Status = outcome.Status,
                Body = outcome.Body, Enterprise = command.Enterprise, Id = command.Id,
            }, context.CancellationToken);
        }
        answers.Answered(UpdateLeadSegment.Queue, context, correlationId, outcome);
    }
}
