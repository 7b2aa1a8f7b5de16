using System.Data.Common;
using Marten;
using Npgsql;
using NpgsqlTypes;
using Weasel.Core;
using Weasel.Storage;

namespace Worker.Storage;

/// <summary>
/// The inbox entries of a batch of commands as one <c>insert ... select from unnest(...)</c>, queued into the batch's
/// <c>SaveChangesAsync</c>. Marten writes one statement per inserted document; for the inbox, which gets an entry for
/// every command, that was about half of the statements a batch sent, each with its own planning and execution in
/// PostgreSQL (docs/performance.md, "Where the CPU goes"). The rows are what Marten's own insert writes: the entry's
/// JSON from the store's serializer, its id, and its day for the partition.
/// </summary>
/// <remarks>
/// A message id already in the inbox (a copy recorded by another worker meanwhile) fails the statement, and with it
/// the batch, as Marten's insert would: the batch is then applied one command per transaction, where the copy is
/// answered from the inbox.
/// </remarks>
public sealed class InboxEntries(string table, IReadOnlyList<InboxEntry> entries, Marten.ISerializer serializer)
    : Weasel.Storage.IStorageOperation
{
    public Type DocumentType => typeof(InboxEntry);

    public OperationRole Role() => OperationRole.Insert;

    public void ConfigureCommand(ICommandBuilder builder, IStorageSession session)
    {
        var ids = new Guid[entries.Count];
        var data = new string[entries.Count];
        var days = new DateTimeOffset[entries.Count];
        for (var i = 0; i < entries.Count; i++)
        {
            ids[i] = entries[i].Id;
            data[i] = serializer.ToJson(entries[i]);
            days[i] = entries[i].Day;
        }
        builder.Append($"insert into {table} (id, data, day) select * from unnest(");
        Typed(builder.AppendParameter(ids), NpgsqlDbType.Array | NpgsqlDbType.Uuid);
        builder.Append(", ");
        Typed(builder.AppendParameter(data), NpgsqlDbType.Array | NpgsqlDbType.Jsonb);
        builder.Append(", ");
        Typed(builder.AppendParameter(days), NpgsqlDbType.Array | NpgsqlDbType.TimestampTz);
        builder.Append(")");
    }

    static void Typed(DbParameter parameter, NpgsqlDbType type) => ((NpgsqlParameter)parameter).NpgsqlDbType = type;

    public Task PostprocessAsync(DbDataReader reader, IList<Exception> exceptions, CancellationToken token) =>
        Task.CompletedTask;
}
