using System.Text.Json;
using Contracts.MarketingPermissions;
using MassTransit;

namespace Worker.MarketingPermissions;

/// <summary>Answers each command with marketing-permissions-updated or marketing-permissions-update-failed.</summary>
public sealed class UpdateMarketingPermissionsConsumer(UpdateMarketingPermissionsHandler handler, CommandAnswers answers)
    : IConsumer<UpdateMarketingPermissions>
{
    public async Task Consume(ConsumeContext<UpdateMarketingPermissions> context)
    {
        var command = context.Message;
        var outcome = await handler.HandleAsync(command, context.MessageId, context.TicketOf(), context.CancellationToken);
        var correlationId = command.CorrelationId ?? context.TransportCorrelationId();
        var accountId = AccountIdOf(command);
        await answers.AnswerAsync<MarketingPermissionsUpdated, MarketingPermissionsUpdateFailed>(context,
            UpdateMarketingPermissions.Queue, correlationId, outcome, result => result switch
            {
                MarketingPermissionsUpdated updated => updated with { AccountId = accountId },
                MarketingPermissionsUpdateFailed failed => failed with { AccountId = accountId },
                _ => result,
            });
    }

    public static string? AccountIdOf(UpdateMarketingPermissions command) =>
        command.Body.ValueKind == JsonValueKind.Object && command.Body.TryGetProperty("account_id", out var id)
        && id.ValueKind == JsonValueKind.String
            ? id.GetString()
            : null;
}

public sealed class UpdateMarketingPermissionsConsumerDefinition : ConsumerDefinition<UpdateMarketingPermissionsConsumer>
{
    public UpdateMarketingPermissionsConsumerDefinition() => EndpointName = UpdateMarketingPermissions.Queue;

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<UpdateMarketingPermissionsConsumer> consumerConfigurator, IRegistrationContext context) =>
        endpointConfigurator.ConfigureCommandEndpoint<UpdateMarketingPermissionsConsumer, UpdateMarketingPermissions>(
            consumerConfigurator, context, new CommandFailures<MarketingPermissionsUpdateFailed, PaywayErrors>(),
            command => UpdateMarketingPermissionsConsumer.AccountIdOf(command)?.ToLowerInvariant() ?? "");
}
