using System.Text.Json.Serialization;
using Marten.Schema;

namespace Worker.Storage;

/// <summary>
/// The answer given to one command, kept as a Marten document under the command's message id, so that a copy of the
/// command is answered the same way instead of being applied again. It holds only what that answer needs: every byte
/// here is written once per command and kept for the whole retention (docs/operations.md sizes it).
/// </summary>
/// <remarks>
/// Message ids are unique across tenants, so the inbox has no tenant column of its own.
/// </remarks>
[SingleTenanted]
public sealed record InboxEntry
{
    /// <summary>The command's message id.</summary>
    public required Guid Id { get; init; }

    public bool Succeeded { get; init; }
    public int Status { get; init; }

    /// <summary>
    /// The answer's body as the JSON text that was published. Text rather than a JSON object: jsonb would reorder its
    /// keys, and a repeated answer must be the same text as the first.
    /// </summary>
    public required string Body { get; init; }

    /// <summary>
    /// The UTC day the command was applied (its midnight): the inbox is partitioned by day, and an expired day goes
    /// with its partition. Kept in its own column only, not in the JSON.
    /// </summary>
    [JsonIgnore]
    public DateTimeOffset Day { get; init; }

    public static DateTimeOffset DayOf(DateTimeOffset moment) =>
        new(moment.UtcDateTime.Date, TimeSpan.Zero);
}
