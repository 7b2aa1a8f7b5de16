using Contracts.CustomerPromotionLists;
using MassTransit;

namespace Worker.CustomerPromotionLists;

/// <summary>Answers each command with customer-promotion-list-updated or customer-promotion-list-update-failed.</summary>
public sealed class UpdateCustomerPromotionListConsumer(UpdateCustomerPromotionListHandler handler, CommandAnswers answers)
    : IConsumer<UpdateCustomerPromotionList>
{
    public async Task Consume(ConsumeContext<UpdateCustomerPromotionList> context)
    {
        var outcome = await handler.HandleAsync(context.Message, context.MessageId, context.TicketOf(), context.CancellationToken);
        var correlationId = context.Message.CorrelationId ?? context.TransportCorrelationId();

        await answers.AnswerAsync<CustomerPromotionListUpdated, CustomerPromotionListUpdateFailed>(context,
            UpdateCustomerPromotionList.Queue, correlationId, outcome);
    }
}

public sealed class UpdateCustomerPromotionListConsumerDefinition : ConsumerDefinition<UpdateCustomerPromotionListConsumer>
{
    public UpdateCustomerPromotionListConsumerDefinition() => EndpointName = UpdateCustomerPromotionList.Queue;

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<UpdateCustomerPromotionListConsumer> consumerConfigurator, IRegistrationContext context) =>
        endpointConfigurator.ConfigureCommandEndpoint<UpdateCustomerPromotionListConsumer, UpdateCustomerPromotionList>(
            consumerConfigurator, context, new CommandFailures<CustomerPromotionListUpdateFailed, ValomniaErrors>(),
            UpdateCustomerPromotionListHandler.DocumentKey);
}
