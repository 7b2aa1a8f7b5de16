using Contracts;

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

/// <summary>Why a message could not be read as a command; APIs such as Payway answer each with its own code.</summary>
public enum UnreadableReason
{
    /// <summary>Empty, not JSON, or JSON of the wrong shape for the command.</summary>
    NotJson,

    /// <summary>A content type other than application/json or MassTransit's JSON envelope.</summary>
    ContentType,

    /// <summary>A body over the configured size limit.</summary>
    TooLarge,
}
