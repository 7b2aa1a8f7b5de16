using Contracts.CustomerPromotionLists;
using MassTransit;
using Worker.Redrive;

namespace Worker.CustomerPromotionLists;

/// <summary>
/// Takes each customer-promotion-list command from reading to answer: reads the address and body, applies the
/// assignment rules in the assignment's turn, exactly once per message id, and answers with
/// customer-promotion-list-updated or customer-promotion-list-update-failed.
/// </summary>
public sealed class UpdateCustomerPromotionListConsumer(CommandLanes lanes, CommandAnswers answers, TimeProvider clock)
    : IConsumer<UpdateCustomerPromotionList>
{
    public async Task Consume(ConsumeContext<UpdateCustomerPromotionList> context)
    {
        var outcome = await UpdateAsync(context.Message, context.MessageId, context.TicketOf(),
            RedriveHeaders.FailedAtOf(context), context.CancellationToken);
        await answers.AnswerAsync<CustomerPromotionListUpdated, CustomerPromotionListUpdateFailed>(context,
            UpdateCustomerPromotionList.Queue, context.Message.CorrelationId, outcome);
    }

    Task<CommandOutcome> UpdateAsync(UpdateCustomerPromotionList command, Guid? messageId, CommandTicket? ticket,
        DateTimeOffset? failedAt, CancellationToken cancellationToken)
    {
        var (request, error) = AssignmentRequest.Read(command);
        if (request is null) return lanes.Refuse(ticket, Failed(error!));

        return lanes.ApplyAsync(ticket, DocumentKey(command), new CommandWork(messageId, async (session, ct) =>
        {
            var assignment = request.Address switch
            {
                AssignmentAddress.ById byId => await session.LoadAsync<CustomerPromotionList>(byId.Id, ct),
                AssignmentAddress.ByReference r => await session.FindAsync<CustomerPromotionList>(
                    a => a.CustomerReference == r.CustomerReference && a.PromotionListReference == r.PromotionListReference, ct),
                _ => throw new InvalidOperationException($"Unknown address {request.Address}"),
            };
            if (assignment is null) return Failed(NotFound(request.Address));
            if (failedAt is { } at && await session.ModifiedSinceAsync(assignment, at, ct))
                return CommandOutcome.Of(ValomniaErrors.Superseded(at));

            var promotionList = await session.LoadAsync<PromotionList>(request.PromotionListId, ct);
            if (promotionList is null) return Failed(ValomniaErrors.Unknown("promotionList", request.PromotionListId));
            var customer = await session.LoadAsync<Customer>(request.CustomerId, ct);
            if (customer is null) return Failed(ValomniaErrors.Unknown("customer", request.CustomerId));

            var (updated, refusal) = AssignmentRules.Apply(assignment, customer, promotionList, clock.GetUtcNow());
            if (updated is null) return Failed(refusal!);

            await session.UpdateAsync(updated, ct, whenUniqueIndexRefuses: Failed(ValomniaErrors.Assigned), redrivenFailedAt: failedAt);
            return new CommandOutcome(true, 200, AssignmentRules.SuccessBody(updated, customer, promotionList));
        }, Failed(ValomniaErrors.NotSaved)) { Reads = ReadsOf(request) }, cancellationToken);
    }

    static List<DocumentRef> ReadsOf(AssignmentRequest request)
    {
        List<DocumentRef> reads =
        [
            DocumentRef.Of<PromotionList>(request.PromotionListId),
            DocumentRef.Of<Customer>(request.CustomerId),
        ];
        if (request.Address is AssignmentAddress.ById byId) reads.Add(DocumentRef.Of<CustomerPromotionList>(byId.Id));
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

public sealed class UpdateCustomerPromotionListConsumerDefinition()
    : CommandConsumerDefinition<UpdateCustomerPromotionListConsumer, UpdateCustomerPromotionList, CustomerPromotionListUpdateFailed, ValomniaErrors>(
        UpdateCustomerPromotionList.Queue, UpdateCustomerPromotionListConsumer.DocumentKey);
