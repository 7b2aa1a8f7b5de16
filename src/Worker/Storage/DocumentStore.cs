using System.Collections.Concurrent;
using System.Text.Json;
using Npgsql;
using NpgsqlTypes;
using Microsoft.Extensions.Options;

namespace Worker.Storage;

/// <summary>A document as read, with the version a later write must still find to succeed.</summary>
public sealed record StoredDocument<T>(T Document, Guid Version, bool Deleted);

/// <summary>A document a command is going to read, named so that a batch can read them all in one query.</summary>
public sealed record DocumentRef(Type DocumentType, string Tenant, string Id)
{
    public static DocumentRef Of<T>(string tenant, string id) => new(typeof(T), tenant, id);
}

/// <summary>The outcome of a guarded write: written, beaten by a concurrent writer, or refused by a unique index.</summary>
public enum WriteResult { Written, VersionConflict, UniqueViolation }

/// <summary>
/// The only type that writes document SQL. Rows follow Marten's layout for conjoined tenancy with soft deletes:
/// primary key (tenant_id, id), the JSON in <c>data</c>, and a fresh <c>mt_version</c> on each write for
/// optimistic concurrency.
/// </summary>
public sealed class DocumentStore(IEnumerable<DocumentMapping> mappings, IOptions<StorageOptions> options)
{
    /// <summary>Marten's tenant id for documents that belong to no tenant.</summary>
    public const string DefaultTenant = "*DEFAULT*";

    readonly Dictionary<Type, (DocumentMapping Mapping, string Table)> _tables =
        mappings.ToDictionary(m => m.DocumentType, m => (m, m.QualifiedTable(options.Value.Schema)));

    (DocumentMapping Mapping, string Table) TableOf<T>() => _tables[typeof(T)];

    sealed record Row(string Json, Guid Version, bool Deleted);

    // Rows read ahead for a transaction's batch (null: no such row), until it is forgotten or the row written.
    readonly ConcurrentDictionary<NpgsqlTransaction, Dictionary<DocumentRef, Row?>> _readAhead = new();

    /// <summary>
    /// Reads the given documents in one query per document type, so that the <see cref="LoadAsync{T}"/> calls of a
    /// batch's commands cost no round trip. A document written in the transaction is read afresh afterwards. Call
    /// <see cref="Forget"/> once the transaction ends.
    /// </summary>
    public async Task ReadAheadAsync(NpgsqlConnection connection, NpgsqlTransaction transaction,
        IEnumerable<DocumentRef> documents, CancellationToken cancellationToken)
    {
        var rows = _readAhead.GetOrAdd(transaction, _ => []);
        foreach (var group in documents.Distinct().Where(d => !rows.ContainsKey(d)).GroupBy(d => d.DocumentType))
        {
            var (mapping, table) = _tables[group.Key];
            var wanted = group.ToList();
            await using var command = new NpgsqlCommand(
                $"""
                 select t.tenant_id, t.id::text, t.data, t.mt_version, t.mt_deleted
                   from unnest($1::varchar[], $2::text[]) as k(tenant_id, id)
                   join {table} t on t.tenant_id = k.tenant_id and t.id = k.id::{mapping.IdType}
                 """, connection, transaction);
            command.Parameters.Add(new NpgsqlParameter { Value = wanted.Select(d => d.Tenant).ToArray() });
            command.Parameters.Add(new NpgsqlParameter { Value = wanted.Select(d => d.Id).ToArray() });
            foreach (var document in wanted) rows[document] = null;
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                rows[new DocumentRef(group.Key, reader.GetString(0), reader.GetString(1))] =
                    new Row(reader.GetString(2), reader.GetGuid(3), reader.GetBoolean(4));
            }
        }
    }

    /// <summary>Drops what was read ahead for the transaction.</summary>
    public void Forget(NpgsqlTransaction transaction) => _readAhead.TryRemove(transaction, out _);

    void Written<T>(NpgsqlTransaction transaction, string tenant, string id)
    {
        if (_readAhead.TryGetValue(transaction, out var rows)) rows.Remove(DocumentRef.Of<T>(tenant, id));
    }

    // Ids travel as text; a bigint id column gets them cast in SQL.
    string Id<T>(int parameter) => $"${parameter}::{TableOf<T>().Mapping.IdType}";

    public async Task<StoredDocument<T>?> LoadAsync<T>(NpgsqlConnection connection, NpgsqlTransaction transaction,
        string tenant, string id, CancellationToken cancellationToken)
    {
        if (_readAhead.TryGetValue(transaction, out var rows) && rows.TryGetValue(DocumentRef.Of<T>(tenant, id), out var row))
        {
            return row is null
                ? null
                : new StoredDocument<T>(JsonSerializer.Deserialize<T>(row.Json, DocumentJson.Options)!, row.Version, row.Deleted);
        }
        var table = TableOf<T>().Table;
        await using var command = new NpgsqlCommand(
            $"select data, mt_version, mt_deleted from {table} where tenant_id = $1 and id = {Id<T>(2)}",
            connection, transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = tenant });
        command.Parameters.Add(new NpgsqlParameter { Value = id });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken)) return null;
        var document = JsonSerializer.Deserialize<T>(reader.GetString(0), DocumentJson.Options)!;
        return new StoredDocument<T>(document, reader.GetGuid(1), reader.GetBoolean(2));
    }

    /// <summary>
    /// The documents of one tenant with the given ids; missing ones are simply not in the result. Answered from what
    /// was read ahead when that holds every one of them.
    /// </summary>
    public async Task<Dictionary<string, T>> LoadManyAsync<T>(NpgsqlConnection connection, NpgsqlTransaction transaction,
        string tenant, IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
    {
        if (_readAhead.TryGetValue(transaction, out var rows)
            && ids.All(id => rows.ContainsKey(DocumentRef.Of<T>(tenant, id))))
        {
            return ids.Distinct()
                .Select(id => (Id: id, Row: rows[DocumentRef.Of<T>(tenant, id)]))
                .Where(found => found.Row is not null)
                .ToDictionary(found => found.Id, found => JsonSerializer.Deserialize<T>(found.Row!.Json, DocumentJson.Options)!);
        }
        var table = TableOf<T>().Table;
        await using var command = new NpgsqlCommand(
            $"select id::text, data from {table} where tenant_id = $1 and id = any({Id<T>(2)}[])", connection, transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = tenant });
        command.Parameters.Add(new NpgsqlParameter { Value = ids.ToArray() });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var documents = new Dictionary<string, T>();
        while (await reader.ReadAsync(cancellationToken))
        {
            documents[reader.GetString(0)] = JsonSerializer.Deserialize<T>(reader.GetString(1), DocumentJson.Options)!;
        }
        return documents;
    }

    /// <summary>The live document of a tenant whose JSON fields have the given values, if there is one.</summary>
    public async Task<(string Id, StoredDocument<T> Stored)?> FindAsync<T>(NpgsqlConnection connection,
        NpgsqlTransaction transaction, string tenant, IReadOnlyList<(string Field, string Value)> fields,
        CancellationToken cancellationToken)
    {
        var table = TableOf<T>().Table;
        var conditions = string.Join(" and ", fields.Select((f, i) => $"data ->> '{f.Field}' = ${i + 2}"));
        await using var command = new NpgsqlCommand(
            $"select id::text, data, mt_version from {table} where tenant_id = $1 and mt_deleted = false and {conditions} limit 1",
            connection, transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = tenant });
        foreach (var (_, value) in fields) command.Parameters.Add(new NpgsqlParameter { Value = value });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken)) return null;
        var document = JsonSerializer.Deserialize<T>(reader.GetString(1), DocumentJson.Options)!;
        return (reader.GetString(0), new StoredDocument<T>(document, reader.GetGuid(2), Deleted: false));
    }

    /// <summary>Writes the document only if nobody else wrote it since <paramref name="expectedVersion"/> was read.</summary>
    public async Task<(WriteResult Result, string? Index)> UpdateAsync<T>(NpgsqlConnection connection,
        NpgsqlTransaction transaction, string tenant, string id, T document, Guid expectedVersion, bool deleted,
        DateTimeOffset? deletedAt, CancellationToken cancellationToken)
    {
        var (mapping, table) = TableOf<T>();
        await using var command = new NpgsqlCommand(
            $"""
             update {table}
                set data = $3, mt_version = $4, mt_last_modified = transaction_timestamp(),
                    mt_dotnet_type = $5, mt_deleted = $6, mt_deleted_at = $7
              where tenant_id = $1 and id = {Id<T>(2)} and mt_version = $8
             """, connection, transaction);
        AddRow(command, mapping, tenant, id, document, deleted, deletedAt);
        command.Parameters.Add(new NpgsqlParameter { Value = expectedVersion });
        Written<T>(transaction, tenant, id);
        try
        {
            var rows = await command.ExecuteNonQueryAsync(cancellationToken);
            return (rows == 1 ? WriteResult.Written : WriteResult.VersionConflict, null);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            // Translated here so that callers see a domain outcome, not a driver exception.
            return (WriteResult.UniqueViolation, e.ConstraintName);
        }
    }

    /// <summary>
    /// Inserts a document whatever the stored version, for loading demo or migrated data: an existing one is kept,
    /// or replaced when <paramref name="overwrite"/> is set. Returns whether a row was written.
    /// </summary>
    public async Task<bool> InsertAsync<T>(NpgsqlConnection connection, NpgsqlTransaction transaction, string tenant,
        string id, T document, bool deleted, DateTimeOffset? deletedAt, bool overwrite, CancellationToken cancellationToken)
    {
        var (mapping, table) = TableOf<T>();
        var onConflict = overwrite
            ? """
              do update set data = excluded.data, mt_version = excluded.mt_version,
                  mt_last_modified = excluded.mt_last_modified, mt_dotnet_type = excluded.mt_dotnet_type,
                  mt_deleted = excluded.mt_deleted, mt_deleted_at = excluded.mt_deleted_at
              """
            : "do nothing";
        await using var command = new NpgsqlCommand(
            $"""
             insert into {table}
                    (tenant_id, id, data, mt_version, mt_last_modified, mt_dotnet_type, mt_deleted, mt_deleted_at)
             values ($1, {Id<T>(2)}, $3, $4, transaction_timestamp(), $5, $6, $7)
             on conflict (tenant_id, id) {onConflict}
             """, connection, transaction);
        AddRow(command, mapping, tenant, id, document, deleted, deletedAt);
        Written<T>(transaction, tenant, id);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    // $1..$7 of every write: the row as Marten lays it out, with a fresh version.
    static void AddRow<T>(NpgsqlCommand command, DocumentMapping mapping, string tenant, string id, T document,
        bool deleted, DateTimeOffset? deletedAt)
    {
        command.Parameters.Add(new NpgsqlParameter { Value = tenant });
        command.Parameters.Add(new NpgsqlParameter { Value = id });
        command.Parameters.Add(Json(document));
        command.Parameters.Add(new NpgsqlParameter { Value = Guid.CreateVersion7() });
        command.Parameters.Add(new NpgsqlParameter { Value = mapping.DotnetType });
        command.Parameters.Add(new NpgsqlParameter { Value = deleted });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)deletedAt ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
    }

    static NpgsqlParameter Json<T>(T document) => new()
    {
        Value = JsonSerializer.Serialize(document, DocumentJson.Options),
        NpgsqlDbType = NpgsqlDbType.Jsonb,
    };
}
