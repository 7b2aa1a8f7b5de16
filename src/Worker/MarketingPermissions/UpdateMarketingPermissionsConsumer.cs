using System.Text.Json;
using System.Text.Json.Nodes;
using Contracts.MarketingPermissions;
using MassTransit;
using Worker.Redrive;

namespace Worker.MarketingPermissions;

/// <summary>
/// Takes each marketing-permissions command from reading to answer: reads the request, applies the rules to the
/// stored account in its turn, appends the consent history, exactly once per message id, and answers with
/// marketing-permissions-updated or marketing-permissions-update-failed.
/// </summary>
public sealed class UpdateMarketingPermissionsConsumer(CommandLanes lanes, CommandAnswers answers, TimeProvider clock)
    : IConsumer<UpdateMarketingPermissions>
{
    /// <summary>Names the account a command changes: commands with the same key are applied in delivery order.</summary>
    public static string DocumentKey(UpdateMarketingPermissions command) => command.PartitionKey();

    public async Task Consume(ConsumeContext<UpdateMarketingPermissions> context)
    {
        var command = context.Message;
        var outcome = await UpdateAsync(command, context.MessageId, context.TicketOf(), RedriveHeaders.FailedAtOf(context),
            context.CancellationToken);
        var accountId = AccountIdOf(command);
        await answers.AnswerAsync<MarketingPermissionsUpdated, MarketingPermissionsUpdateFailed>(context,
            UpdateMarketingPermissions.Queue, command.CorrelationId, outcome, result => result switch
            {
                MarketingPermissionsUpdated updated => updated with { AccountId = accountId },
                MarketingPermissionsUpdateFailed failed => failed with { AccountId = accountId },
                _ => result,
            });
    }

    Task<CommandOutcome> UpdateAsync(UpdateMarketingPermissions command, Guid? messageId, CommandTicket? ticket,
        DateTimeOffset? failedAt, CancellationToken cancellationToken)
    {
        var (request, error) = MarketingPermissionsRequest.Read(command);
        if (request is null) return lanes.Refuse(ticket, Failed(error!));

        return lanes.ApplyAsync(ticket, request.AccountId, new CommandWork(messageId, async (session, ct) =>
        {
            var account = await session.LoadAsync<Account>(request.AccountId, ct);
            if (account is null) return Failed(PaywayErrors.AccountNotFound(request.AccountId));
            if (failedAt is { } at && await session.ModifiedSinceAsync(account, at, ct))
                return CommandOutcome.Of(PaywayErrors.Superseded(at));

            var defined = await session.LoadManyAsync<MarketingPermission>(
                request.Permissions.Select(p => p.Id).ToList(), ct);
            var (decision, refusal) = MarketingPermissionRules.Apply(account, request, defined,
                clock.GetUtcNow(), command.CorrelationId!, messageId);
            if (decision is null) return Failed(refusal!);

            if (decision.Changes.Count > 0)
            {
                // The account first: a second write of it in the same transaction sends the first one, events included,
                // so each command's events follow the previous command's in the stream.
                await session.UpdateAsync(decision.Account, ct, redrivenFailedAt: failedAt);
                session.Append(request.AccountId, decision.Changes);
            }
            return new CommandOutcome(true, 200,
                JsonSerializer.SerializeToElement(new JsonObject { ["id"] = account.Id }));
        })
        {
            Reads = [
                DocumentRef.Of<Account>(request.AccountId),
                .. request.Permissions.Select(p => DocumentRef.Of<MarketingPermission>(p.Id)),
            ],
        }, cancellationToken);
    }

    /// <summary>The account id of the body, as given, for the result events; null when it is missing or not a string.</summary>
    public static string? AccountIdOf(UpdateMarketingPermissions command) => command.AccountId();

    static CommandOutcome Failed(PaywayError error) => new(false, error.Status, error.Body());
}

public sealed class UpdateMarketingPermissionsConsumerDefinition()
    : CommandConsumerDefinition<UpdateMarketingPermissionsConsumer, UpdateMarketingPermissions, MarketingPermissionsUpdateFailed, PaywayErrors>(
        UpdateMarketingPermissions.Queue, UpdateMarketingPermissionsConsumer.DocumentKey);
