namespace Worker.Storage;

/// <summary>
/// A document that is written back only if nobody else wrote it since it was read: Marten fills
/// <see cref="Version"/> from <c>mt_version</c> on every read and checks it on every write (optimistic concurrency).
/// It is not part of the stored JSON.
/// </summary>
public interface IVersionedDocument
{
    Guid Version { get; set; }
}
