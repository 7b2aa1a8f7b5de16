using Contracts.LeadSegments;
using MassTransit;

namespace Worker.LeadSegments;

public sealed class UpdateLeadSegmentConsumerDefinition : ConsumerDefinition<UpdateLeadSegmentConsumer>
{
    public UpdateLeadSegmentConsumerDefinition() => EndpointName = UpdateLeadSegment.Queue;

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<UpdateLeadSegmentConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.ConfigureCommandEndpoint<UpdateLeadSegmentConsumer, UpdateLeadSegment>(consumerConfigurator,
            context, new CommandFailures<LeadSegmentUpdateFailed, LeadSegmentErrors>(), UpdateLeadSegmentHandler.DocumentKey);
    }
}
