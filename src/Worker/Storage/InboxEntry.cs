namespace Worker.Storage;

/// <summary>
/// The answer given to one command, kept as a Marten document under the command's message id, so that a copy of the
/// command is answered the same way instead of being applied again.
/// </summary>
public sealed record InboxEntry
{
    /// <summary>The command's message id.</summary>
    public required Guid Id { get; init; }

    public required string Queue { get; init; }
    public bool Succeeded { get; init; }
    public int Status { get; init; }

    /// <summary>
    /// The answer's body as the JSON text that was published. Text rather than a JSON object: jsonb would reorder its
    /// keys, and a repeated answer must be the same text as the first.
    /// </summary>
    public required string Body { get; init; }

    public DateTimeOffset ProcessedAt { get; init; }
}
