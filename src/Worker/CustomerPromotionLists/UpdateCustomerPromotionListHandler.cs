using Contracts.CustomerPromotionLists;
using Worker.Storage;

namespace Worker.CustomerPromotionLists;

/// <summary>Decides and stores one assignment update, exactly once per message id.</summary>
public sealed class UpdateCustomerPromotionListHandler(DocumentStore store, CommandLanes lanes, TimeProvider clock)
{
    public const string AssignmentIndex = "mt_doc_customerpromotionlist_uidx_customer_promotion_list";

    public static readonly DocumentMapping Customers = new(typeof(Customer), []) { IdType = "bigint" };
    public static readonly DocumentMapping PromotionLists = new(typeof(PromotionList), []) { IdType = "bigint" };
    public static readonly DocumentMapping Assignments =
        new(typeof(CustomerPromotionList), [new UniqueIndex(AssignmentIndex, "customerId", "promotionListId")])
        {
            IdType = "bigint", IndexedFields = ["customerReference"],
        };

    public Task<CommandOutcome> HandleAsync(UpdateCustomerPromotionList command, Guid? messageId,
        CommandTicket? ticket, CancellationToken cancellationToken)
    {
        var (request, error) = AssignmentRequest.Read(command);
        if (request is null)
        {
            lanes.Release(ticket);
            return Task.FromResult(Failed(error!));
        }

        return lanes.ApplyAsync(ticket, DocumentKey(command), new CommandWork(messageId, UpdateCustomerPromotionList.Queue, async (connection, transaction, ct) =>
        {
            const string tenant = DocumentStore.DefaultTenant;
            var found = request.Address switch
            {
                AssignmentAddress.ById byId =>
                    await store.LoadAsync<CustomerPromotionList>(connection, transaction, tenant, byId.Id.ToString(), ct)
                        is { Deleted: false } stored ? (byId.Id.ToString(), stored) : ((string, StoredDocument<CustomerPromotionList>)?)null,
                AssignmentAddress.ByReference byReference =>
                    await store.FindAsync<CustomerPromotionList>(connection, transaction, tenant,
                        [("customerReference", byReference.CustomerReference), ("promotionListReference", byReference.PromotionListReference)], ct),
                _ => throw new InvalidOperationException($"Unknown address {request.Address}"),
            };
            if (found is null) return Failed(NotFound(request.Address));
            var (id, assignment) = found.Value;

            var promotionList = await store.LoadAsync<PromotionList>(connection, transaction, tenant, request.PromotionListId.ToString(), ct);
            if (promotionList is null or { Deleted: true }) return Failed(ValomniaErrors.Unknown("promotionList", request.PromotionListId));
            var customer = await store.LoadAsync<Customer>(connection, transaction, tenant, request.CustomerId.ToString(), ct);
            if (customer is null or { Deleted: true }) return Failed(ValomniaErrors.Unknown("customer", request.CustomerId));

            var (updated, refusal) = AssignmentRules.Apply(assignment.Document, customer.Document, promotionList.Document, clock.GetUtcNow());
            if (updated is null) return Failed(refusal!);

            var (result, _) = await store.UpdateAsync(connection, transaction, tenant, id, updated, assignment.Version,
                deleted: false, deletedAt: null, ct);
            return result switch
            {
                WriteResult.Written => new CommandOutcome(true, 200,
                    AssignmentRules.SuccessBody(updated, customer.Document, promotionList.Document)),
                WriteResult.UniqueViolation => Failed(ValomniaErrors.Assigned),
                _ => throw new DocumentChangedConcurrentlyException(Assignments.Table, tenant, id),
            };
        }, Failed(ValomniaErrors.NotSaved)) { Reads = ReadsOf(request) }, cancellationToken);
    }

    static List<DocumentRef> ReadsOf(AssignmentRequest request)
    {
        const string tenant = DocumentStore.DefaultTenant;
        List<DocumentRef> reads =
        [
            DocumentRef.Of<PromotionList>(tenant, request.PromotionListId.ToString()),
            DocumentRef.Of<Customer>(tenant, request.CustomerId.ToString()),
        ];
        if (request.Address is AssignmentAddress.ById byId) reads.Add(DocumentRef.Of<CustomerPromotionList>(tenant, byId.Id.ToString()));
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
