using System.Text.Json;
using Marten;

namespace Worker.DemoData;

/// <summary>
/// Loads a demo-data file through Marten in one transaction. Loading twice changes nothing: documents that exist are
/// kept, unless <c>--reset</c> asks for them to be put back as the file has them.
/// </summary>
public sealed class DemoDataImport(IDocumentStore store, SchemaSetup schema, IEnumerable<IDemoDataSection> sections,
    ILogger<DemoDataImport> logger)
{
    public async Task ImportAsync(string path, bool overwrite, CancellationToken cancellationToken)
    {
        await schema.EnsureAsync(migrate: true, cancellationToken);
        using var file = JsonDocument.Parse(await File.ReadAllBytesAsync(path, cancellationToken));
        await using var session = store.LightweightSession();
        foreach (var section in sections)
        {
            if (!file.RootElement.TryGetProperty(section.Name, out var data)) continue;
            var written = await section.ImportAsync(data, session, overwrite, cancellationToken);
            logger.LogInformation("Imported {Written} documents of {Section} from {Path}", written, section.Name, path);
        }
        await session.SaveChangesAsync(cancellationToken);
    }
}

public static class DemoDocuments
{
    /// <summary>
    /// Stores documents of one tenant: all of them when <paramref name="overwrite"/> is set, else only those whose id
    /// is not taken yet (soft-deleted documents count as taken). Returns those stored.
    /// </summary>
    public static async Task<IReadOnlyList<T>> StoreAsync<T>(IDocumentOperations session, IReadOnlyList<T> documents,
        bool overwrite, CancellationToken cancellationToken) where T : class
    {
        var existing = (await DocumentIds.LoadManyAsync<T>(session, documents.Select(DocumentIds.Of).ToList(), cancellationToken))
            .ToDictionary(DocumentIds.Of);
        var stored = overwrite
            ? documents
            : documents.Where(document => !existing.ContainsKey(DocumentIds.Of(document))).ToList();
        foreach (var document in stored)
        {
            // Replacing a document is a write like any other: it must name the version it replaces.
            if (document is IVersionedDocument versioned && existing.GetValueOrDefault(DocumentIds.Of(document)) is IVersionedDocument current)
            {
                versioned.Version = current.Version;
            }
            session.Store(document);
        }
        return stored;
    }
}
