using Contracts;
using Contracts.CustomerPromotionLists;
using Worker.Messaging;

namespace Worker.CustomerPromotionLists;

public sealed class CustomerPromotionListFailures : ICommandFailures
{
    public CommandResult Unreadable(string? correlationId, Guid? messageId, UnreadableReason reason, string detail) =>
        Failed(correlationId, messageId, reason switch
        {
            UnreadableReason.ContentType => ValomniaErrors.WrongContentType,
            UnreadableReason.TooLarge => ValomniaErrors.TooLarge,
            _ => ValomniaErrors.NotJson,
        });

    public CommandResult Unexpected(string? correlationId, Guid? messageId) =>
        Failed(correlationId, messageId, ValomniaErrors.UnexpectedFailure);

    static CustomerPromotionListUpdateFailed Failed(string? correlationId, Guid? messageId, ValomniaError error) =>
        new() { CorrelationId = correlationId, CommandMessageId = messageId, Status = error.Status, Body = error.Body() };
}
