using Contracts.LeadSegments;
using Worker.Storage;

namespace Worker.LeadSegments;

/// <summary>Decides and stores one lead-segment update, exactly once per message id.</summary>
public sealed class UpdateLeadSegmentHandler(DocumentStore store, CommandLanes lanes, TimeProvider clock)
{
    public const string CodeIndex = "mt_doc_leadsegment_uidx_code";

    public static readonly DocumentMapping Mapping = new(typeof(LeadSegment), [new UniqueIndex(CodeIndex, "code")]);

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

        return lanes.ApplyAsync(ticket, DocumentKey(command), new CommandWork(messageId, UpdateLeadSegment.Queue, async (connection, transaction, ct) =>
        {
            var (enterprise, id) = (command.Enterprise!, command.Id!);
            var stored = await store.LoadAsync<LeadSegment>(connection, transaction, enterprise, id, ct);
            if (stored is null || !LeadSegmentRules.IsLive(stored.Document, stored.Deleted))
            {
                return Failed(404, [LeadSegmentErrors.LeadSegmentNotFound(id)]);
            }

            var (updated, refusal) = LeadSegmentRules.Apply(stored.Document, patch, clock.GetUtcNow());
            if (updated is null) return Failed(422, [refusal!]);

            var (result, _) = await store.UpdateAsync(connection, transaction, enterprise, id, updated, stored.Version,
                deleted: false, deletedAt: null, ct);
            return result switch
            {
                WriteResult.Written => new CommandOutcome(true, 200, LeadSegmentRules.SuccessBody(updated)),
                WriteResult.UniqueViolation => Failed(422, [LeadSegmentErrors.CodeInUse(updated.Code)]),
                _ => throw new DocumentChangedConcurrentlyException(Mapping.Table, enterprise, id),
            };
        }) { Reads = [DocumentRef.Of<LeadSegment>(command.Enterprise!, command.Id!)] }, cancellationToken);
    }

    static CommandOutcome Failed(int status, IEnumerable<ErrorItem> errors) =>
        new(false, status, LeadSegmentErrors.Body(errors));
}
