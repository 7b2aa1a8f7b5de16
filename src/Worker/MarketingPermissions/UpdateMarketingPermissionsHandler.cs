using System.Text.Json;
using System.Text.Json.Nodes;
using Contracts.MarketingPermissions;
using Worker.Storage;

namespace Worker.MarketingPermissions;

/// <summary>Decides and stores one marketing-permissions update and its consent history, exactly once per message id.</summary>
public sealed class UpdateMarketingPermissionsHandler(DocumentStore store, CommandLanes lanes, TimeProvider clock)
{
    public static readonly DocumentMapping Accounts = new(typeof(Account), []);
    public static readonly DocumentMapping Permissions = new(typeof(MarketingPermission), []);
    public static readonly DocumentMapping History = new(typeof(ConsentChange), [])
    {
        IndexedFields = ["accountId"], AppendOnly = true,
    };

    public Task<CommandOutcome> HandleAsync(UpdateMarketingPermissions command, Guid? messageId,
        CommandTicket? ticket, CancellationToken cancellationToken)
    {
        var (request, error) = MarketingPermissionsRequest.Read(command);
        if (request is null)
        {
            lanes.Release(ticket);
            return Task.FromResult(Failed(error!));
        }

        return lanes.ApplyAsync(ticket, request.AccountId, new CommandWork(messageId, UpdateMarketingPermissions.Queue, async (connection, transaction, ct) =>
        {
            var tenant = DocumentStore.DefaultTenant;
            var stored = await store.LoadAsync<Account>(connection, transaction, tenant, request.AccountId, ct);
            if (stored is null || stored.Deleted) return Failed(PaywayErrors.AccountNotFound(request.AccountId));

            var defined = await store.LoadManyAsync<MarketingPermission>(connection, transaction, tenant,
                request.Permissions.Select(p => p.Id).ToList(), ct);
            var (decision, refusal) = MarketingPermissionRules.Apply(stored.Document, request, defined,
                clock.GetUtcNow(), command.CorrelationId!, messageId);
            if (decision is null) return Failed(refusal!);

            if (decision.Changes.Count > 0)
            {
                var (result, _) = await store.UpdateAsync(connection, transaction, tenant, request.AccountId,
                    decision.Account, stored.Version, deleted: false, deletedAt: null, ct);
                if (result != WriteResult.Written)
                    throw new DocumentChangedConcurrentlyException(Accounts.Table, tenant, request.AccountId);
                foreach (var change in decision.Changes)
                {
                    await store.InsertAsync(connection, transaction, tenant, change.Id, change, deleted: false,
                        deletedAt: null, overwrite: false, ct);
                }
            }
            return new CommandOutcome(true, 200,
                JsonSerializer.SerializeToElement(new JsonObject { ["id"] = stored.Document.Id }));
        })
        {
            Reads = [
                DocumentRef.Of<Account>(DocumentStore.DefaultTenant, request.AccountId),
                .. request.Permissions.Select(p => DocumentRef.Of<MarketingPermission>(DocumentStore.DefaultTenant, p.Id)),
            ],
        }, cancellationToken);
    }

    static CommandOutcome Failed(PaywayError error) => new(false, error.Status, error.Body());
}
