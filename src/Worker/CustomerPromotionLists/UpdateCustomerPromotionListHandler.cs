using Contracts.CustomerPromotionLists;

namespace Worker.CustomerPromotionLists;

/// <summary>Decides and stores one assignment update, exactly once per message id.</summary>
public sealed class UpdateCustomerPromotionListHandler(CommandLanes lanes, TimeProvider clock)
{
    const string Tenant = DocumentRef.DefaultTenant;

    public Task<CommandOutcome> HandleAsync(UpdateCustomerPromotionList command, Guid? messageId,
        CommandTicket? ticket, CancellationToken cancellationToken)
    {
        var (request, error) = AssignmentRequest.Read(command);
        if (request is null)
        {
            lanes.Release(ticket);
            return Task.FromResult(Failed(error!));
        }

        return lanes.ApplyAsync(ticket, DocumentKey(command), new CommandWork(messageId, UpdateCustomerPromotionList.Queue, async (session, ct) =>
        {
            var assignment = request.Address switch
            {
                AssignmentAddress.ById byId => await session.LoadAsync<CustomerPromotionList>(Tenant, byId.Id, ct),
                AssignmentAddress.ByReference r => await session.FindAsync<CustomerPromotionList>(Tenant,
                    a => a.CustomerReference == r.CustomerReference && a.PromotionListReference == r.PromotionListReference, ct),
                _ => throw new InvalidOperationException($"Unknown address {request.Address}"),
            };
            if (assignment is null) return Failed(NotFound(request.Address));

            var promotionList = await session.LoadAsync<PromotionList>(Tenant, request.PromotionListId, ct);
            if (promotionList is null) return Failed(ValomniaErrors.Unknown("promotionList", request.PromotionListId));
            var customer = await session.LoadAsync<Customer>(Tenant, request.CustomerId, ct);
            if (customer is null) return Failed(ValomniaErrors.Unknown("customer", request.CustomerId));

            var (updated, refusal) = AssignmentRules.Apply(assignment, customer, promotionList, clock.GetUtcNow());
            if (updated is null) return Failed(refusal!);

            await session.UpdateAsync(Tenant, updated, ct, whenUniqueIndexRefuses: Failed(ValomniaErrors.Assigned));
            return new CommandOutcome(true, 200, AssignmentRules.SuccessBody(updated, customer, promotionList));
        }, Failed(ValomniaErrors.NotSaved)) { Reads = ReadsOf(request) }, cancellationToken);
    }

    static List<DocumentRef> ReadsOf(AssignmentRequest request)
    {
        List<DocumentRef> reads =
        [
            DocumentRef.Of<PromotionList>(Tenant, request.PromotionListId),
            DocumentRef.Of<Customer>(Tenant, request.CustomerId),
        ];
        if (request.Address is AssignmentAddress.ById byId) reads.Add(DocumentRef.Of<CustomerPromotionList>(Tenant, byId.Id));
        return reads;
    }

    /// <summary>Names the assignment a command changes: commands with the same key are applied in delivery order.</summary>
    public static string DocumentKey(UpdateCustomerPromotionList command) =>
        command.Id?.GetRawText() ?? command.Reference?.GetRawText() ?? "";

    static ValomniaError NotFound(AssignmentAddress address) => address switch
    {
        AssignmentAddress.ById byId => ValomniaErrors.Unknown("customerPromotionList", byId.Id),
        AssignmentAddress.ByReference r => ValomniaErrors.UnknownByReference(r.CustomerReference, r.PromotionListReference),
        _ => throw new InvalidOperationException($"Unknown address {address}"),
    };

    static CommandOutcome Failed(ValomniaError error) => new(false, error.Status, error.Body());
}
