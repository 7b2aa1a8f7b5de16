using Contracts;

namespace Worker.Messaging;

/// <summary>
/// The failed result events of one operation for commands that never reached its rules: a message that can't be
/// read, and an unexpected failure after retries. Each API answers those in its own documented error shape.
/// </summary>
public interface ICommandFailures
{
    CommandResult Unreadable(string? correlationId, Guid? messageId, string reason);

    CommandResult Unexpected(string? correlationId, Guid? messageId);
}
