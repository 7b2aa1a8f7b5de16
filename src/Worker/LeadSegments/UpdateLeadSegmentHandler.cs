using Contracts.LeadSegments;

namespace Worker.LeadSegments;

/// <summary>Decides and stores one lead-segment update, exactly once per message id.</summary>
public sealed class UpdateLeadSegmentHandler(CommandLanes lanes, TimeProvider clock)
{
    /// <summary>Names the document a command changes: commands with the same key are applied in delivery order.</summary>
    public static string DocumentKey(UpdateLeadSegment command) => $"{command.Enterprise}/{command.Id}";

    public Task<CommandOutcome> HandleAsync(UpdateLeadSegment command, Guid? messageId, CommandTicket? ticket,
        CancellationToken cancellationToken)
    {
        var (patch, errors) = LeadSegmentPatch.Read(command);
        if (patch is null)
        {
            lanes.Release(ticket);
            return Task.FromResult(Failed(400, errors));
        }

        var (enterprise, id) = (command.Enterprise!, command.Id!);
        return lanes.ApplyAsync(ticket, DocumentKey(command), new CommandWork(messageId, UpdateLeadSegment.Queue, async (session, ct) =>
        {
            var current = await session.LoadAsync<LeadSegment>(enterprise, id, ct);
            if (current is null || !LeadSegmentRules.IsLive(current, current.Deleted))
            {
                return Failed(404, [LeadSegmentErrors.LeadSegmentNotFound(id)]);
            }

            var (updated, refusal) = LeadSegmentRules.Apply(current, patch, clock.GetUtcNow());
            if (updated is null) return Failed(422, [refusal!]);

            await session.UpdateAsync(enterprise, updated, ct,
                whenUniqueIndexRefuses: Failed(422, [LeadSegmentErrors.CodeInUse(updated.Code)]));
            return new CommandOutcome(true, 200, LeadSegmentRules.SuccessBody(updated));
        }) { Reads = [DocumentRef.Of<LeadSegment>(enterprise, id)] }, cancellationToken);
    }

    static CommandOutcome Failed(int status, IEnumerable<ErrorItem> errors) =>
        new(false, status, LeadSegmentErrors.Body(errors));
}
