using System.Text.Json;

namespace Worker.Storage;

/// <summary>The answer to one command: the documented HTTP status and body, and whether it succeeded.</summary>
public sealed record CommandOutcome(bool Succeeded, int Status, JsonElement Body)
{
    /// <summary>True when this answer was recorded earlier for the same message id and is only being repeated.</summary>
    public bool Repeated { get; init; }

    public static CommandOutcome Repeat(InboxEntry entry) =>
        new(entry.Succeeded, entry.Status, JsonDocument.Parse(entry.Body).RootElement.Clone()) { Repeated = true };
}

/// <summary>
/// A document that is written back only if nobody else wrote it since it was read: Marten fills
/// <see cref="Version"/> from <c>mt_version</c> on every read and checks it on every write (optimistic concurrency).
/// It is not part of the stored JSON.
/// </summary>
public interface IVersionedDocument
{
    Guid Version { get; set; }
}
