using Contracts.LeadSegments;
using MassTransit;
using Worker.Redrive;

namespace Worker.LeadSegments;

/// <summary>
/// Takes each update-lead-segment command from reading to answer: reads the PATCH, applies the rules to the stored
/// segment in its document's turn, exactly once per message id, and answers with lead-segment-updated or
/// lead-segment-update-failed.
/// </summary>
public sealed class UpdateLeadSegmentConsumer(CommandLanes lanes, CommandAnswers answers, TimeProvider clock)
    : IConsumer<UpdateLeadSegment>
{
    /// <summary>Names the document a command changes: commands with the same key are applied in delivery order.</summary>
    public static string DocumentKey(UpdateLeadSegment command) => command.PartitionKey();

    public async Task Consume(ConsumeContext<UpdateLeadSegment> context)
    {
        var command = context.Message;
        var outcome = await UpdateAsync(command, context.MessageId, context.TicketOf(), RedriveHeaders.FailedAtOf(context),
            context.CancellationToken);
        await answers.AnswerAsync<LeadSegmentUpdated, LeadSegmentUpdateFailed>(context, UpdateLeadSegment.Queue,
            command.CorrelationId, outcome, result => result switch
            {
                LeadSegmentUpdated updated => updated with { Enterprise = command.Enterprise, Id = command.Id },
                LeadSegmentUpdateFailed failed => failed with { Enterprise = command.Enterprise, Id = command.Id },
                _ => result,
            });
    }

    Task<CommandOutcome> UpdateAsync(UpdateLeadSegment command, Guid? messageId, CommandTicket? ticket,
        DateTimeOffset? failedAt, CancellationToken cancellationToken)
    {
        var (patch, errors) = LeadSegmentPatch.Read(command);
        if (patch is null) return lanes.Refuse(ticket, Failed(400, errors));

        var (enterprise, id) = (command.Enterprise!, command.Id!);
        return lanes.ApplyAsync(ticket, DocumentKey(command), new CommandWork(messageId, async (session, ct) =>
        {
            var current = await session.LoadAsync<LeadSegment>(enterprise, id, ct);
            if (current is null || !LeadSegmentRules.IsLive(current, current.Deleted))
            {
                return Failed(404, [LeadSegmentErrors.LeadSegmentNotFound(id)]);
            }
            if (failedAt is { } at && await session.ModifiedSinceAsync(enterprise, current, at, ct))
                return CommandOutcome.Of(LeadSegmentErrors.Superseded(at));

            var (updated, refusal) = LeadSegmentRules.Apply(current, patch, clock.GetUtcNow());
            if (updated is null) return Failed(422, [refusal!]);

            await session.UpdateAsync(enterprise, updated, ct,
                whenUniqueIndexRefuses: Failed(422, [LeadSegmentErrors.CodeInUse(updated.Code)]), redrivenFailedAt: failedAt);
            return new CommandOutcome(true, 200, LeadSegmentRules.SuccessBody(updated));
        }) { Reads = [DocumentRef.Of<LeadSegment>(enterprise, id)] }, cancellationToken);
    }

    static CommandOutcome Failed(int status, IEnumerable<ErrorItem> errors) =>
        new(false, status, LeadSegmentErrors.Body(errors));
}

public sealed class UpdateLeadSegmentConsumerDefinition()
    : CommandConsumerDefinition<UpdateLeadSegmentConsumer, UpdateLeadSegment, LeadSegmentUpdateFailed, LeadSegmentErrors>(
        UpdateLeadSegment.Queue, UpdateLeadSegmentConsumer.DocumentKey);
