
namespace Worker.Messaging;

/// <summary>
/// The failed result events of one operation for commands that never reached its rules: a message that can't be
/// read, and an unexpected failure after retries. Each API answers those in its own documented error shape.
/// </summary>
public interface ICommandFailures
{
    CommandResult Unreadable(string? correlationId, Guid? messageId, UnreadableReason reason, string detail);

    CommandResult Unexpected(string? correlationId, Guid? messageId);
}

/// <summary>The failures of an operation whose failed event is <typeparamref name="TFailed"/>, worded by its API's catalog.</summary>
public sealed class CommandFailures<TFailed, TErrors> : ICommandFailures
    where TFailed : CommandResult, new()
    where TErrors : IApiErrors
{
    public CommandResult Unreadable(string? correlationId, Guid? messageId, UnreadableReason reason, string detail) =>
        Failed(correlationId, messageId, TErrors.Unreadable(reason, detail));

    public CommandResult Unexpected(string? correlationId, Guid? messageId) =>
        Failed(correlationId, messageId, TErrors.Unexpected());

    static TFailed Failed(string? correlationId, Guid? messageId, ApiAnswer answer) =>
        new() { CorrelationId = correlationId, CommandMessageId = messageId, Status = answer.Status, Body = answer.Body };
}
