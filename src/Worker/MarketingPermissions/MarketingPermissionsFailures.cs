using Contracts;
using Contracts.MarketingPermissions;
using Worker.Messaging;

namespace Worker.MarketingPermissions;

public sealed class MarketingPermissionsFailures : ICommandFailures
{
    public CommandResult Unreadable(string? correlationId, Guid? messageId, UnreadableReason reason, string detail) =>
        Failed(correlationId, messageId, reason switch
        {
            UnreadableReason.ContentType => PaywayErrors.InvalidContentType,
            UnreadableReason.TooLarge => PaywayErrors.Invalid("body", detail),
            _ => PaywayErrors.InvalidJson,
        });

    public CommandResult Unexpected(string? correlationId, Guid? messageId) =>
        Failed(correlationId, messageId, PaywayErrors.Internal);

    static MarketingPermissionsUpdateFailed Failed(string? correlationId, Guid? messageId, PaywayError error) =>
        new() { CorrelationId = correlationId, CommandMessageId = messageId, Status = error.Status, Body = error.Body() };
}
