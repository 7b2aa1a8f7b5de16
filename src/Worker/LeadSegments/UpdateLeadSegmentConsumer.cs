using Contracts.LeadSegments;
using MassTransit;

namespace Worker.LeadSegments;

/// <summary>Answers each update-lead-segment command with lead-segment-updated or lead-segment-update-failed.</summary>
public sealed class UpdateLeadSegmentConsumer(UpdateLeadSegmentHandler handler, CommandAnswers answers) : IConsumer<UpdateLeadSegment>
{
    public async Task Consume(ConsumeContext<UpdateLeadSegment> context)
    {
        var command = context.Message;
        var outcome = await handler.HandleAsync(command, context.MessageId, context.TicketOf(), context.CancellationToken);
        var correlationId = command.CorrelationId ?? context.TransportCorrelationId();

        await answers.AnswerAsync<LeadSegmentUpdated, LeadSegmentUpdateFailed>(context, UpdateLeadSegment.Queue,
            correlationId, outcome, result => result switch
            {
                LeadSegmentUpdated updated => updated with { Enterprise = command.Enterprise, Id = command.Id },
                LeadSegmentUpdateFailed failed => failed with { Enterprise = command.Enterprise, Id = command.Id },
                _ => result,
            });
    }
}
