using Marten;
using Worker.Storage;

namespace Worker.Redrive;

/// <summary>
/// The last write of a document by a re-driven command: the document's version it wrote, and when that command had
/// failed. A write counts, for whether a later re-driven command is superseded, at its place in the order of the
/// commands (when it failed), not when the re-drive applied it: commands of one document that failed in turn and
/// are re-driven together are applied in turn, none superseding the next. Another write since changes the
/// document's version, and the mark no longer applies.
/// </summary>
public sealed record RedriveMark
{
    /// <summary>The document's <see cref="DocumentRef"/>, as text.</summary>
    public required string Id { get; init; }
    public required Guid Version { get; init; }
    public required DateTimeOffset FailedAt { get; init; }

    public static string IdOf(DocumentRef document) => $"{document.DocumentType.Name}/{document.Tenant}/{document.Id}";

    public static IServiceCollection AddRedrive(IServiceCollection services) =>
        services.ConfigureMarten(options => options.Schema.For<RedriveMark>());
}
