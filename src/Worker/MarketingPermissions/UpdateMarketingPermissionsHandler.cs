using System.Text.Json;
using System.Text.Json.Nodes;
using Contracts.MarketingPermissions;

namespace Worker.MarketingPermissions;

/// <summary>Decides and stores one marketing-permissions update and its consent history, exactly once per message id.</summary>
public sealed class UpdateMarketingPermissionsHandler(CommandLanes lanes, TimeProvider clock)
{
    const string Tenant = DocumentRef.DefaultTenant;

    public Task<CommandOutcome> HandleAsync(UpdateMarketingPermissions command, Guid? messageId,
        CommandTicket? ticket, CancellationToken cancellationToken)
    {
        var (request, error) = MarketingPermissionsRequest.Read(command);
        if (request is null)
        {
            lanes.Release(ticket);
            return Task.FromResult(Failed(error!));
        }

        return lanes.ApplyAsync(ticket, request.AccountId, new CommandWork(messageId, UpdateMarketingPermissions.Queue, async (session, ct) =>
        {
            var account = await session.LoadAsync<Account>(Tenant, request.AccountId, ct);
            if (account is null) return Failed(PaywayErrors.AccountNotFound(request.AccountId));

            var defined = await session.LoadManyAsync<MarketingPermission>(Tenant,
                request.Permissions.Select(p => p.Id).ToList(), ct);
            var (decision, refusal) = MarketingPermissionRules.Apply(account, request, defined,
                clock.GetUtcNow(), command.CorrelationId!, messageId);
            if (decision is null) return Failed(refusal!);

            if (decision.Changes.Count > 0)
            {
                // The account first: a second write of it in the same transaction sends the first one, events included,
                // so each command's events follow the previous command's in the stream.
                await session.UpdateAsync(Tenant, decision.Account, ct);
                session.Append(request.AccountId, decision.Changes);
            }
            return new CommandOutcome(true, 200,
                JsonSerializer.SerializeToElement(new JsonObject { ["id"] = account.Id }));
        })
        {
            Reads = [
                DocumentRef.Of<Account>(Tenant, request.AccountId),
                .. request.Permissions.Select(p => DocumentRef.Of<MarketingPermission>(Tenant, p.Id)),
            ],
        }, cancellationToken);
    }

    static CommandOutcome Failed(PaywayError error) => new(false, error.Status, error.Body());
}
