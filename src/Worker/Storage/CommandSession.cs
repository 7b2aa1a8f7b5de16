using System.Linq.Expressions;
using Marten;
using Npgsql;

namespace Worker.Storage;

/// <summary>
/// What the commands of one transaction see of the store: one Marten session on that transaction. The documents the
/// commands name ahead are read for all of them in one batched query; writes wait in the session and reach PostgreSQL
/// together, with the transaction's single <c>SaveChangesAsync</c>, each checked by Marten against the version it was
/// read at. A later command of the same transaction reads a document as an earlier one left it.
/// </summary>
public sealed class CommandSession : IAsyncDisposable
{
    readonly NpgsqlConnection _connection;
    readonly NpgsqlTransaction _transaction;
    readonly IDocumentSession _session;
    readonly Dictionary<DocumentRef, object?> _known = [];
    readonly Dictionary<DocumentRef, IVersionedDocument> _unsent = [];
    /// <summary>The documents this transaction wrote, each with when the re-driven command that wrote it last had failed (null: not re-driven).</summary>
    readonly Dictionary<DocumentRef, DateTimeOffset?> _writtenBy = [];

    CommandSession(NpgsqlConnection connection, NpgsqlTransaction transaction, IDocumentSession session) =>
        (_connection, _transaction, _session) = (connection, transaction, session);

    /// <summary>A session on a transaction of its own, committed only by <see cref="CommitAsync"/>.</summary>
    public static async Task<CommandSession> BeginAsync(IDocumentStore store, NpgsqlDataSource dataSource,
        CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            var transaction = await connection.BeginTransactionAsync(cancellationToken);
            return new CommandSession(connection, transaction,
                store.LightweightSession(global::Marten.Services.SessionOptions.ForTransaction(transaction)));
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    /// <summary>Marten's session, for what the store does beside the commands' documents (the inbox).</summary>
    internal IDocumentSession Marten => _session;

    /// <summary>
    /// The answer to give if a unique index refuses the writes: known only when they are sent, so the command that
    /// wrote says beforehand what its refusal would be.
    /// </summary>
    internal CommandOutcome? WhenUniqueIndexRefuses { get; private set; }

    /// <summary>Reads the named documents (and the given inbox entries) in one round trip.</summary>
    public async Task ReadAheadAsync(IReadOnlyCollection<Guid> messageIds, IEnumerable<DocumentRef> documents,
        Dictionary<Guid, CommandOutcome> answered, CancellationToken cancellationToken)
    {
        var batch = _session.CreateBatchQuery();
        var entries = batch.LoadMany<InboxEntry>().ById(messageIds.ToArray());
        var reads = documents.Distinct().Where(d => !_known.ContainsKey(d))
            .GroupBy(d => (d.DocumentType, d.Tenant))
            .Select(group => (Wanted: group.ToList(),
                Found: DocumentIds.ReadMany(batch, group.Key.DocumentType, group.Key.Tenant, group.Select(d => d.Id).ToList())))
            .ToList();
        await batch.Execute(cancellationToken);

        foreach (var entry in await entries) answered[entry.Id] = CommandOutcome.Repeat(entry);
        foreach (var (wanted, found) in reads)
        {
            foreach (var document in wanted) _known[document] = null;
            foreach (var document in await found)
            {
                _known[new DocumentRef(document.GetType(), wanted[0].Tenant, DocumentIds.Of(document))] = document;
            }
        }
    }

    /// <summary>
    /// A document by id, as this transaction left it; a soft-deleted one is returned too (its metadata says so).
    /// </summary>
    public async Task<T?> LoadAsync<T>(string tenant, object id, CancellationToken cancellationToken) where T : class
    {
        var key = DocumentRef.Of<T>(tenant, id);
        if (_known.TryGetValue(key, out var known)) return (T?)known;
        var session = Tenant(tenant);
        var document = id switch
        {
            long number => await session.LoadAsync<T>(number, cancellationToken),
            _ => await session.LoadAsync<T>(DocumentIds.Text(id), cancellationToken),
        };
        _known[key] = document;
        return document;
    }

    /// <summary>The documents of one tenant with the given ids; missing ones are simply not in the result.</summary>
    public async Task<Dictionary<string, T>> LoadManyAsync<T>(string tenant, IReadOnlyCollection<string> ids,
        CancellationToken cancellationToken) where T : class
    {
        var missing = ids.Distinct().Where(id => !_known.ContainsKey(DocumentRef.Of<T>(tenant, id))).ToArray();
        if (missing.Length > 0)
        {
            foreach (var id in missing) _known[DocumentRef.Of<T>(tenant, id)] = null;
            foreach (var document in await Tenant(tenant).LoadManyAsync<T>(cancellationToken, missing))
            {
                _known[DocumentRef.Of<T>(tenant, DocumentIds.Of(document))] = document;
            }
        }
        return ids.Distinct()
            .Select(id => (Id: id, Document: _known[DocumentRef.Of<T>(tenant, id)] as T))
            .Where(found => found.Document is not null)
            .ToDictionary(found => found.Id, found => found.Document!);
    }

    /// <summary>The first live document of a tenant that matches, through Marten's LINQ (its indexes apply).</summary>
    public async Task<T?> FindAsync<T>(string tenant, Expression<Func<T, bool>> match, CancellationToken cancellationToken)
        where T : class
    {
        // The query reads the database, which must hold what this transaction already wrote.
        await SendAsync(cancellationToken);
        var document = await Tenant(tenant).Query<T>().Where(match).FirstOrDefaultAsync(cancellationToken);
        if (document is not null) _known[DocumentRef.Of<T>(tenant, DocumentIds.Of(document))] = document;
        return document;
    }

    /// <summary>
    /// Writes the document back, to be sent with the transaction's other writes. Marten refuses it then if another
    /// writer changed the document since <see cref="IVersionedDocument.Version"/> was read
    /// (<see cref="JasperFx.ConcurrencyException"/>), or if it breaks a unique index
    /// (<see cref="JasperFx.DocumentAlreadyExistsException"/>), which is answered with
    /// <paramref name="whenUniqueIndexRefuses"/>.
    /// </summary>
    public async Task UpdateAsync<T>(string tenant, T document, CancellationToken cancellationToken,
        CommandOutcome? whenUniqueIndexRefuses = null, DateTimeOffset? redrivenFailedAt = null) where T : class, IVersionedDocument
    {
        var key = DocumentRef.Of<T>(tenant, DocumentIds.Of(document));
        if (_unsent.TryGetValue(key, out var earlier))
        {
            // A second write of the same document in this transaction: the first has no version yet to check the
            // second against, until Marten sends it and reads its new version back.
            await SendAsync(cancellationToken);
            document.Version = earlier.Version;
        }
        Tenant(tenant).UpdateExpectedVersion(document, document.Version);
        _unsent[key] = document;
        _known[key] = document;
        _writtenBy[key] = redrivenFailedAt;
        if (whenUniqueIndexRefuses is not null) WhenUniqueIndexRefuses = whenUniqueIndexRefuses;
    }

    /// <summary>
    /// Whether the document took a command that came after <paramref name="since"/>: one applied earlier in this
    /// transaction, or a committed one (Marten's <c>mt_last_modified</c>, the database's clock). A write by a
    /// re-driven command counts at the moment that command failed (<see cref="Redrive.RedriveMark"/>).
    /// </summary>
    public async Task<bool> ModifiedSinceAsync<T>(string tenant, T document, DateTimeOffset since,
        CancellationToken cancellationToken) where T : class, IVersionedDocument
    {
        var key = DocumentRef.Of<T>(tenant, DocumentIds.Of(document));
        if (_writtenBy.TryGetValue(key, out var failedAt)) return failedAt is not { } at || at > since;
        var mark = await _session.LoadAsync<Redrive.RedriveMark>(Redrive.RedriveMark.IdOf(key), cancellationToken);
        if (mark is not null && mark.Version == document.Version) return mark.FailedAt > since;
        return await DocumentIds.LastModifiedAsync(_session.DocumentStore, _connection, _transaction, typeof(T), tenant,
            DocumentIds.Of(document), cancellationToken) > since;
    }

    public Task<bool> ModifiedSinceAsync<T>(T document, DateTimeOffset since, CancellationToken cancellationToken)
        where T : class, IVersionedDocument => ModifiedSinceAsync(DocumentRef.DefaultTenant, document, since, cancellationToken);

    // The same for documents of no tenant (Payway's accounts, Valomnia's assignments): Marten's default tenant.

    public Task<T?> LoadAsync<T>(object id, CancellationToken cancellationToken) where T : class =>
        LoadAsync<T>(DocumentRef.DefaultTenant, id, cancellationToken);

    public Task<Dictionary<string, T>> LoadManyAsync<T>(IReadOnlyCollection<string> ids, CancellationToken cancellationToken)
        where T : class => LoadManyAsync<T>(DocumentRef.DefaultTenant, ids, cancellationToken);

    public Task<T?> FindAsync<T>(Expression<Func<T, bool>> match, CancellationToken cancellationToken) where T : class =>
        FindAsync(DocumentRef.DefaultTenant, match, cancellationToken);

    public Task UpdateAsync<T>(T document, CancellationToken cancellationToken, CommandOutcome? whenUniqueIndexRefuses = null,
        DateTimeOffset? redrivenFailedAt = null) where T : class, IVersionedDocument =>
        UpdateAsync(DocumentRef.DefaultTenant, document, cancellationToken, whenUniqueIndexRefuses, redrivenFailedAt);

    /// <summary>Appends events to a stream (keyed by a string) in the same transaction as the documents.</summary>
    public void Append(string streamKey, IEnumerable<object> events) => _session.Events.Append(streamKey, events);

    /// <summary>Sends every write and commits the transaction.</summary>
    public async Task CommitAsync(CancellationToken cancellationToken)
    {
        await _session.SaveChangesAsync(cancellationToken);
        // The versions are known once sent: a document a re-driven command wrote last is marked with it.
        var marks = _writtenBy.Where(written => written.Value is not null && _known[written.Key] is IVersionedDocument).ToList();
        if (marks.Count > 0)
        {
            foreach (var (document, failedAt) in marks)
                _session.Store(new Redrive.RedriveMark
                {
                    Id = Redrive.RedriveMark.IdOf(document), Version = ((IVersionedDocument)_known[document]!).Version,
                    FailedAt = failedAt!.Value,
                });
            await _session.SaveChangesAsync(cancellationToken);
        }
        await _transaction.CommitAsync(cancellationToken);
    }

    // The writes so far go to the database inside the transaction, without committing it.
    async Task SendAsync(CancellationToken cancellationToken)
    {
        await _session.SaveChangesAsync(cancellationToken);
        _unsent.Clear();
    }

    IDocumentOperations Tenant(string tenant) =>
        tenant == DocumentRef.DefaultTenant ? _session : _session.ForTenant(tenant);

    public async ValueTask DisposeAsync()
    {
        await _session.DisposeAsync();
        await _transaction.DisposeAsync();
        await _connection.DisposeAsync();
    }
}
