using System.Text.Json;

namespace Worker.Storage;

/// <summary>The answer to one command: the documented HTTP status and body, and whether it succeeded.</summary>
public sealed record CommandOutcome(bool Succeeded, int Status, JsonElement Body)
{
    /// <summary>True when this answer was recorded earlier for the same message id and is only being repeated.</summary>
    public bool Repeated { get; init; }
}

/// <summary>Thrown when another writer changed the document between read and write; the command is run again.</summary>
public sealed class DocumentChangedConcurrentlyException(string table, string tenant, string id)
    : Exception($"{table} ({tenant}, {id}) was changed by another writer");
