namespace Worker.Storage;

/// <summary>
/// Where a document type lives, named as Marten names it (<c>mt_doc_</c> + the lowercased type name) so that a Marten
/// application configured with conjoined tenancy, soft deletes and System.Text.Json camelCase reads the same rows.
/// </summary>
public sealed record DocumentMapping(Type DocumentType, IReadOnlyList<UniqueIndex> UniqueIndexes)
{
    public string Table => $"mt_doc_{DocumentType.Name.ToLowerInvariant()}";

    public string QualifiedTable(string schema) => $"{schema}.{Table}";

    /// <summary>
    /// The column type of <c>id</c>, as Marten derives it from the document's Id: <c>varchar</c> for strings,
    /// <c>bigint</c> for longs. The store's API passes ids as text either way.
    /// </summary>
    public string IdType { get; init; } = "varchar";

    /// <summary>JSON fields looked up often enough to deserve a (non-unique) index.</summary>
    public IReadOnlyList<string> IndexedFields { get; init; } = [];

    /// <summary>Rows can be added but never changed or deleted: PostgreSQL itself refuses it.</summary>
    public bool AppendOnly { get; init; }

    /// <summary>Marten records the .NET type of each row; a reader resolves it by full name.</summary>
    public string DotnetType => DocumentType.FullName!;
}

/// <summary>
/// A unique index over JSON fields among the live (not soft-deleted) documents of a tenant. A write that breaks it
/// fails in PostgreSQL, so two concurrent writers can never both win.
/// </summary>
public sealed record UniqueIndex(string Name, params string[] JsonFields);
