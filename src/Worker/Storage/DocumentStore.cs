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

    /// <summary>
    /// What the store keeps for one transaction of a batch: the rows read ahead or written (null: no such row), and the
    /// writes held back to be sent together.
    /// </summary>
    sealed class Batch
    {
        public Dictionary<DocumentRef, Row?> Rows { get; } = [];
        public RoundTrip? HeldWrites { get; set; }
    }

    readonly ConcurrentDictionary<NpgsqlTransaction, Batch> _batches = new();

    /// <summary>
    /// From now on the transaction's writes are held back and sent together, in order, in one round trip: with the
    /// next read that what is known cannot answer, or by <see cref="TakeHeldWrites"/>. A held write answers
    /// <see cref="WriteResult.Written"/> at once; should it find another writer's version or break a unique index when
    /// it is sent, that send throws (<see cref="DocumentChangedConcurrentlyException"/> or a
    /// <see cref="PostgresException"/>), and the caller, which can no longer trust the answers it gave, rolls back.
    /// Call <see cref="Forget"/> once the transaction ends.
    /// </summary>
    public void HoldWrites(NpgsqlTransaction transaction) =>
        _batches.GetOrAdd(transaction, _ => new Batch()).HeldWrites ??= new RoundTrip();

    /// <summary>Adds the writes held back for the transaction to <paramref name="trip"/>, to be sent with it.</summary>
    public void TakeHeldWrites(NpgsqlTransaction transaction, RoundTrip trip)
    {
        if (!_batches.TryGetValue(transaction, out var batch) || batch.HeldWrites is not { IsEmpty: false } held) return;
        trip.Include(held);
        batch.HeldWrites = new RoundTrip();
    }

    /// <summary>
    /// Adds to <paramref name="trip"/> the reads of the given documents, one query per document type, so that the
    /// loads of a batch's commands cost no round trip of their own.
    /// </summary>
    public void ReadAhead(RoundTrip trip, NpgsqlTransaction transaction, IEnumerable<DocumentRef> documents)
    {
        var rows = _batches.GetOrAdd(transaction, _ => new Batch()).Rows;
        // One query per document type and tenant, as "tenant_id = $1 and id = any($2)": a prepared statement's generic
        // plan then stays a primary-key lookup however small the batch. (A join on unnest() of the same arrays was
        // planned as a sequential scan of the whole table, since the planner must guess how many ids it holds.)
        foreach (var group in documents.Distinct().Where(d => !rows.ContainsKey(d)).GroupBy(d => (d.DocumentType, d.Tenant)))
        {
            var (type, tenant) = group.Key;
            var (mapping, table) = _tables[type];
            var wanted = group.ToList();
            var command = new NpgsqlBatchCommand(
                $"select id::text, data, mt_version, mt_deleted from {table} where tenant_id = $1 and id = any($2::{mapping.IdType}[])");
            command.Parameters.Add(new NpgsqlParameter { Value = tenant });
            command.Parameters.Add(new NpgsqlParameter { Value = wanted.Select(d => d.Id).ToArray() });
            trip.Query(command, async (reader, cancellationToken) =>
            {
                foreach (var document in wanted) rows[document] = null;
                while (await reader.ReadAsync(cancellationToken))
                {
                    rows[new DocumentRef(type, tenant, reader.GetString(0))] =
                        new Row(reader.GetString(1), reader.GetGuid(2), reader.GetBoolean(3));
                }
            });
        }
    }

    /// <summary>Reads the given documents ahead in one round trip (see <see cref="ReadAhead"/>).</summary>
    public async Task ReadAheadAsync(NpgsqlConnection connection, NpgsqlTransaction transaction,
        IEnumerable<DocumentRef> documents, CancellationToken cancellationToken)
    {
        var trip = new RoundTrip();
        ReadAhead(trip, transaction, documents);
        await trip.RunAsync(connection, transaction, cancellationToken);
    }

    /// <summary>Drops what was read ahead or held back for the transaction.</summary>
    public void Forget(NpgsqlTransaction transaction) => _batches.TryRemove(transaction, out _);

    // Before a read that goes to the database: the held writes must be there for it to see them.
    async Task SendHeldWritesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction,
        CancellationToken cancellationToken)
    {
        var trip = new RoundTrip();
        TakeHeldWrites(transaction, trip);
        await trip.RunAsync(connection, transaction, cancellationToken);
    }

    // Ids travel as text; a bigint id column gets them cast in SQL.
    string Id<T>(int parameter) => $"${parameter}::{TableOf<T>().Mapping.IdType}";

    public async Task<StoredDocument<T>?> LoadAsync<T>(NpgsqlConnection connection, NpgsqlTransaction transaction,
        string tenant, string id, CancellationToken cancellationToken)
    {
        if (_batches.TryGetValue(transaction, out var batch) && batch.Rows.TryGetValue(DocumentRef.Of<T>(tenant, id), out var row))
        {
            return row is null
                ? null
                : new StoredDocument<T>(JsonSerializer.Deserialize<T>(row.Json, DocumentJson.Options)!, row.Version, row.Deleted);
        }
        await SendHeldWritesAsync(connection, transaction, cancellationToken);
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
        if (_batches.TryGetValue(transaction, out var batch)
            && ids.All(id => batch.Rows.ContainsKey(DocumentRef.Of<T>(tenant, id))))
        {
            return ids.Distinct()
                .Select(id => (Id: id, Row: batch.Rows[DocumentRef.Of<T>(tenant, id)]))
                .Where(found => found.Row is not null)
                .ToDictionary(found => found.Id, found => JsonSerializer.Deserialize<T>(found.Row!.Json, DocumentJson.Options)!);
        }
        await SendHeldWritesAsync(connection, transaction, cancellationToken);
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
        await SendHeldWritesAsync(connection, transaction, cancellationToken);
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

    /// <summary>
    /// Writes the document only if nobody else wrote it since <paramref name="expectedVersion"/> was read. In a
    /// transaction whose writes are held back (<see cref="HoldWrites"/>), the answer is <see cref="WriteResult.Written"/>
    /// and the check happens when the write is sent.
    /// </summary>
    public async Task<(WriteResult Result, string? Index)> UpdateAsync<T>(NpgsqlConnection connection,
        NpgsqlTransaction transaction, string tenant, string id, T document, Guid expectedVersion, bool deleted,
        DateTimeOffset? deletedAt, CancellationToken cancellationToken)
    {
        var (mapping, table) = TableOf<T>();
        var command = new NpgsqlBatchCommand(
            $"""
             update {table}
                set data = $3, mt_version = $4, mt_last_modified = transaction_timestamp(),
                    mt_dotnet_type = $5, mt_deleted = $6, mt_deleted_at = $7
              where tenant_id = $1 and id = {Id<T>(2)} and mt_version = $8
             """);
        var row = AddRow(command.Parameters, mapping, tenant, id, document, deleted, deletedAt);
        command.Parameters.Add(new NpgsqlParameter { Value = expectedVersion });
        var key = DocumentRef.Of<T>(tenant, id);
        _batches.TryGetValue(transaction, out var batch);
        if (batch?.HeldWrites is { } held)
        {
            held.Execute(command, rows =>
            {
                if (rows != 1) throw new DocumentChangedConcurrentlyException(mapping.Table, tenant, id);
            });
            // Later commands of the batch read the document as this one left it.
            batch.Rows[key] = row;
            return (WriteResult.Written, null);
        }
        var written = 0;
        var trip = new RoundTrip();
        trip.Execute(command, rows => written = rows);
        try
        {
            await trip.RunAsync(connection, transaction, cancellationToken);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            // Translated here so that callers see a domain outcome, not a driver exception.
            batch?.Rows.Remove(key);
            return (WriteResult.UniqueViolation, e.ConstraintName);
        }
        if (batch is not null)
        {
            if (written == 1) batch.Rows[key] = row;
            else batch.Rows.Remove(key);
        }
        return (written == 1 ? WriteResult.Written : WriteResult.VersionConflict, null);
    }

    /// <summary>
    /// Inserts a document whatever the stored version, for loading demo or migrated data or adding to an append-only
    /// history: an existing one is kept, or replaced when <paramref name="overwrite"/> is set. Returns whether a row
    /// was written; in a transaction whose writes are held back, it is sent later and the answer is true.
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
        var command = new NpgsqlBatchCommand(
            $"""
             insert into {table}
                    (tenant_id, id, data, mt_version, mt_last_modified, mt_dotnet_type, mt_deleted, mt_deleted_at)
             values ($1, {Id<T>(2)}, $3, $4, transaction_timestamp(), $5, $6, $7)
             on conflict (tenant_id, id) {onConflict}
             """);
        AddRow(command.Parameters, mapping, tenant, id, document, deleted, deletedAt);
        // Whether an existing row was kept is known only once sent: the document is read afresh if asked for.
        _batches.TryGetValue(transaction, out var batch);
        batch?.Rows.Remove(DocumentRef.Of<T>(tenant, id));
        if (batch?.HeldWrites is { } held)
        {
            held.Execute(command);
            return true;
        }
        var written = 0;
        var trip = new RoundTrip();
        trip.Execute(command, rows => written = rows);
        await trip.RunAsync(connection, transaction, cancellationToken);
        return written == 1;
    }

    // $1..$7 of every write: the row as Marten lays it out, with a fresh version. Returns the row as written.
    static Row AddRow<T>(NpgsqlParameterCollection parameters, DocumentMapping mapping, string tenant, string id,
        T document, bool deleted, DateTimeOffset? deletedAt)
    {
        var row = new Row(JsonSerializer.Serialize(document, DocumentJson.Options), Guid.CreateVersion7(), deleted);
        parameters.Add(new NpgsqlParameter { Value = tenant });
        parameters.Add(new NpgsqlParameter { Value = id });
        parameters.Add(new NpgsqlParameter { Value = row.Json, NpgsqlDbType = NpgsqlDbType.Jsonb });
        parameters.Add(new NpgsqlParameter { Value = row.Version });
        parameters.Add(new NpgsqlParameter { Value = mapping.DotnetType });
        parameters.Add(new NpgsqlParameter { Value = deleted });
        parameters.Add(new NpgsqlParameter { Value = (object?)deletedAt ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        return row;
    }
}
