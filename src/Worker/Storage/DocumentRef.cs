using Npgsql;
using System.Collections.Concurrent;
using System.Globalization;
using System.Linq.Expressions;
using Marten;
using Marten.Services.BatchQuerying;

namespace Worker.Storage;

/// <summary>A document a command is going to read, named so that a batch can read them all in one query.</summary>
public sealed record DocumentRef(Type DocumentType, string Tenant, string Id)
{
    /// <summary>Marten's tenant id for documents that belong to no tenant.</summary>
    public const string DefaultTenant = "*DEFAULT*";

    public static DocumentRef Of<T>(string tenant, object id) => new(typeof(T), tenant, DocumentIds.Text(id));

    /// <summary>A document of no tenant.</summary>
    public static DocumentRef Of<T>(object id) => Of<T>(DefaultTenant, id);
}

/// <summary>Reads and names documents by their <c>Id</c> property, whatever its type (string or long here).</summary>
static class DocumentIds
{
    static readonly ConcurrentDictionary<Type, Func<object, object>> Getters = new();
    static readonly ConcurrentDictionary<Type, Func<IBatchedQuery, string, IReadOnlyList<string>, Task<IEnumerable<object>>>> Readers = new();

    public static string Text(object id) => Convert.ToString(id, CultureInfo.InvariantCulture)!;

    /// <summary>
    /// When the document was last written (<c>mt_last_modified</c>), or null if there is none. Read by tenant and
    /// typed id, on the primary key: Marten's own <c>MetadataForAsync</c> ignores the tenant of a conjoined document.
    /// </summary>
    public static async Task<DateTimeOffset?> LastModifiedAsync(IDocumentStore store, NpgsqlConnection connection,
        NpgsqlTransaction? transaction, Type type, string tenant, string id, CancellationToken cancellationToken)
    {
        var mapping = store.Options.FindOrResolveDocumentType(type);
        await using var command = new NpgsqlCommand(
            $"select mt_last_modified from {mapping.TableName.QualifiedName} where tenant_id = $1 and id = $2", connection, transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = tenant });
        command.Parameters.Add(new NpgsqlParameter { Value = mapping.IdType == typeof(long) ? long.Parse(id, CultureInfo.InvariantCulture) : id });
        return await command.ExecuteScalarAsync(cancellationToken) is DateTime modified
            ? new DateTimeOffset(DateTime.SpecifyKind(modified, DateTimeKind.Utc)) : null;
    }

    public static string Of(object document) => Text(Getters.GetOrAdd(document.GetType(), type =>
    {
        var value = Expression.Parameter(typeof(object));
        var id = Expression.Property(Expression.Convert(value, type), "Id");
        return Expression.Lambda<Func<object, object>>(Expression.Convert(id, typeof(object)), value).Compile();
    })(document));

    /// <summary>Loads documents of the session's tenant by id, soft-deleted ones included.</summary>
    public static async Task<IReadOnlyList<T>> LoadManyAsync<T>(IQuerySession session, IReadOnlyList<string> ids,
        CancellationToken cancellationToken) where T : class =>
        typeof(T).GetProperty("Id")!.PropertyType == typeof(long)
            ? await session.LoadManyAsync<T>(cancellationToken, ids.Select(i => long.Parse(i, CultureInfo.InvariantCulture)).ToArray())
            : await session.LoadManyAsync<T>(cancellationToken, ids.ToArray());

    /// <summary>
    /// Adds to a batched query the documents of one type and tenant with the given ids, as a LINQ query that Marten
    /// turns into <c>tenant_id = any(...) and id = any(...)</c>: one batched query can then hold several tenants.
    /// </summary>
    public static Task<IEnumerable<object>> ReadMany(IBatchedQuery batch, Type type, string tenant, IReadOnlyList<string> ids) =>
        Readers.GetOrAdd(type, t => (Func<IBatchedQuery, string, IReadOnlyList<string>, Task<IEnumerable<object>>>)
            typeof(DocumentIds).GetMethod(nameof(ReadManyOf), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
                .MakeGenericMethod(t)
                .CreateDelegate(typeof(Func<IBatchedQuery, string, IReadOnlyList<string>, Task<IEnumerable<object>>>)))(batch, tenant, ids);

    static async Task<IEnumerable<object>> ReadManyOf<T>(IBatchedQuery batch, string tenant, IReadOnlyList<string> ids)
        where T : class
    {
        var document = Expression.Parameter(typeof(T), "x");
        var id = Expression.Property(document, "Id");
        object typedIds = id.Type == typeof(long)
            ? ids.Select(i => long.Parse(i, CultureInfo.InvariantCulture)).ToArray()
            : ids.ToArray();
        var inTenant = Expression.Call(typeof(LinqExtensions), nameof(LinqExtensions.TenantIsOneOf), [typeof(T)],
            document, Expression.Constant(new[] { tenant }));
        var hasId = Expression.Call(typeof(Enumerable), nameof(Enumerable.Contains), [id.Type],
            Expression.Constant(typedIds), id);
        var filter = Expression.Lambda<Func<T, bool>>(Expression.AndAlso(inTenant, hasId), document);
        return await batch.Query<T>().Where(filter).ToList();
    }
}
