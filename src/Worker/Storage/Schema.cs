using Microsoft.Extensions.Options;
using Npgsql;

namespace Worker.Storage;

/// <summary>
/// Creates the document tables, their unique indexes and the inbox at start-up. Every statement is idempotent, and
/// an advisory lock keeps two instances starting together from racing on the same DDL.
/// </summary>
public sealed class Schema(NpgsqlDataSource dataSource, IEnumerable<DocumentMapping> mappings, CommandInbox inbox,
    IOptions<StorageOptions> options)
{
    const long SchemaLock = 0x5752_4b52; // any constant shared by all instances

    public async Task EnsureAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await Execute(connection, transaction, $"select pg_advisory_xact_lock({SchemaLock})", cancellationToken);
        foreach (var mapping in mappings)
        {
            await Execute(connection, transaction, DocumentTable(mapping, options.Value.Schema), cancellationToken);
        }
        await Execute(connection, transaction, inbox.Ddl, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    static string DocumentTable(DocumentMapping mapping, string schema)
    {
        var table = mapping.QualifiedTable(schema);
        var ddl = $"""
            create schema if not exists {schema};
            create table if not exists {table} (
                tenant_id        varchar      not null default '*DEFAULT*',
                id               {mapping.IdType,-12} not null,
                data             jsonb        not null,
                mt_last_modified timestamptz  null default transaction_timestamp(),
                mt_version       uuid         not null default (md5(random()::text || clock_timestamp()::text)::uuid),
                mt_dotnet_type   varchar      null,
                mt_deleted       boolean      null default false,
                mt_deleted_at    timestamptz  null,
                constraint pkey_{mapping.Table}_tenant_id_id primary key (tenant_id, id)
            );
            create index if not exists {mapping.Table}_idx_mt_deleted on {table} (mt_deleted);
            """;
        foreach (var index in mapping.UniqueIndexes)
        {
            ddl += $"""

                create unique index if not exists {index.Name}
                    on {table} (tenant_id, {string.Join(", ", index.JsonFields.Select(f => $"(data ->> '{f}')"))})
                    where mt_deleted = false;
                """;
        }
        foreach (var field in mapping.IndexedFields)
        {
            ddl += $"""

                create index if not exists {mapping.Table}_idx_{field.ToLowerInvariant()}
                    on {table} (tenant_id, (data ->> '{field}'));
                """;
        }
        if (mapping.AppendOnly)
        {
            // An audit trail must survive a bug or a careless hand: updates and deletes fail in the database.
            ddl += $"""

                create or replace function {schema}.{mapping.Table}_append_only() returns trigger language plpgsql as $$
                begin
                    raise exception '{mapping.Table} is append-only';
                end $$;
                drop trigger if exists {mapping.Table}_append_only on {table};
                create trigger {mapping.Table}_append_only before update or delete on {table}
                    for each row execute function {schema}.{mapping.Table}_append_only();
                """;
        }
        return ddl;
    }

    static async Task Execute(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
