using System.Text.Json;

namespace Worker.Storage;

/// <summary>The answer to one command: the documented HTTP status and body, and whether it succeeded.</summary>
public sealed record CommandOutcome(bool Succeeded, int Status, JsonElement Body)
{
    /// <summary>True when this answer was recorded earlier for the same message id and is only being repeated.</summary>
    public bool Repeated { get; init; }

    /// <summary>A failure in the API's own words.</summary>
    public static CommandOutcome Of(Contracts.ApiAnswer answer) => new(false, answer.Status, answer.Body);

    public static CommandOutcome Repeat(InboxEntry entry) =>
        new(entry.Succeeded, entry.Status, JsonDocument.Parse(entry.Body).RootElement.Clone()) { Repeated = true };
}
