using Marten;
using Microsoft.Extensions.Options;
using Npgsql;
using Weasel.Core;
using Weasel.Postgresql;
using Weasel.Postgresql.Functions;

namespace Worker.Storage;

/// <summary>
/// The inbox is one table range-partitioned by day (<see cref="InboxEntry.Day"/>), so that expired answers go a day at
/// a time with a partition drop: a catalogue change whose cost does not grow with the table, where a DELETE would
/// rewrite, log and later vacuum every expired row while commands wait. Marten creates the partitioned table and reads
/// and writes it like any document table; the partitions are ours, made and dropped by one database function,
/// <c>mt_inbox_maintain</c>, which the worker calls at start and every <c>Storage:InboxCleanupInterval</c>.
/// </summary>
/// <remarks>
/// <para>
/// Not Marten's rolling window (<c>ByRollingRange</c>): its partitions are part of the schema Marten compares, so a
/// worker that only verifies the schema (<c>Storage:SchemaAtStart=Verify</c>, under a role that may not change it) would
/// find the schema behind every morning. The function runs as its owner (<c>security definer</c>), so such a worker
/// manages the partitions with nothing more than the right to execute it.
/// </para>
/// <para>
/// An entry is kept at least the retention and goes with its day once that whole day is older than the retention:
/// up to a day longer. A row whose day has no partition (a clock far off) lands in the default partition and is
/// deleted there by the same rule.
/// </para>
/// </remarks>
public sealed class InboxPartitions(NpgsqlDataSource dataSource, IDocumentStore store, ILogger<InboxPartitions> logger)
{
    /// <summary>Marten's table for <see cref="InboxEntry"/>.</summary>
    public const string Table = "mt_doc_inbox";

    const string MaintainFunction = "mt_inbox_maintain";

    /// <summary>
    /// Days provisioned beyond today, so that a worker whose cleanup could not run for that long (a database that
    /// refused it, a role without the right) still writes into partitions of their own.
    /// </summary>
    public const int DaysAhead = 3;

    /// <summary>
    /// The inbox's mapping: partitioned by day, no tenant column (<see cref="InboxEntry"/>), and none of Marten's
    /// informational columns (version, .NET type, last modified), which no reader of the inbox uses.
    /// </summary>
    public static void Map(StoreOptions options) =>
        options.Schema.For<InboxEntry>()
            .DocumentAlias("inbox")
            .PartitionOn(entry => entry.Day, partitioning => partitioning.ByExternallyManagedRangePartitions())
            .Metadata(metadata => metadata.DisableInformationalFields());

    /// <summary>
    /// The maintenance function, applied with Weasel after Marten has made the table. Written as PostgreSQL prints it
    /// back (<c>pg_get_functiondef</c>), so that Weasel finds nothing to change at the next start.
    /// </summary>
    public static IEnumerable<ISchemaObject> SchemaObjects(StoreOptions options)
    {
        var schema = options.DatabaseSchemaName;
        var function = new PostgresqlObjectName(schema, MaintainFunction, SchemaUtils.IdentifierUsage.Function);
        yield return new Function(function, $$"""
            CREATE OR REPLACE FUNCTION {{function.QualifiedName}}(retention interval, days_ahead integer)
             RETURNS TABLE(created integer, detached integer, dropped integer, deleted bigint)
             LANGUAGE plpgsql
             SECURITY DEFINER
             SET search_path TO 'pg_catalog', 'pg_temp'
             SET lock_timeout TO '2s'
            AS $function$
            declare
                parent text := format('%I.%I', '{{schema}}', '{{Table}}');
                today date := (now() at time zone 'UTC')::date;
                expired timestamptz := now() - retention;
                day date;
                part record;
            begin
                created := 0; detached := 0; dropped := 0; deleted := 0;
                if retention < interval '0' then
                    raise exception 'the inbox retention cannot be negative';
                end if;
                -- Several workers start and clean up at once: one call at a time, each seeing what the last one did.
                perform pg_advisory_xact_lock(hashtext(parent));
                -- Days detached by an earlier call go first: dropping a table that is no longer a partition locks
                -- nothing the commands use, however long removing its files takes.
                for part in
                    select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
                    where n.nspname = '{{schema}}' and c.relkind = 'r' and not c.relispartition
                      and c.relname ~ '^{{Table}}_d[0-9]{8}$'
                loop
                    execute format('drop table %I.%I', '{{schema}}', part.relname);
                    dropped := dropped + 1;
                end loop;
                execute format('delete from %I.%I where day + interval ''1 day'' <= $1', '{{schema}}', '{{Table}}_default') using expired;
                get diagnostics deleted = row_count;
                execute format('create table if not exists %I.%I partition of %s default', '{{schema}}', '{{Table}}_default', parent);
                for day in select generate_series(((expired at time zone 'UTC')::date)::timestamp, (today + days_ahead)::timestamp, interval '1 day')::date loop
                    if to_regclass(format('%I.%I', '{{schema}}', '{{Table}}_d' || to_char(day, 'YYYYMMDD'))) is null then
                        execute format('create table %I.%I partition of %s for values from (%L) to (%L)',
                            '{{schema}}', '{{Table}}_d' || to_char(day, 'YYYYMMDD'), parent,
                            (day::timestamp at time zone 'UTC'), ((day + 1)::timestamp at time zone 'UTC'));
                        created := created + 1;
                    end if;
                end loop;
                -- A day goes once every entry in it is older than the retention: its day ended before that. Detaching
                -- takes the table's lock until this call commits, so it comes last and the drop is left to the next call.
                for part in
                    select c.relname, to_date(substring(c.relname from '_d([0-9]{8})$'), 'YYYYMMDD') as day
                    from pg_inherits i
                    join pg_class c on c.oid = i.inhrelid
                    join pg_class p on p.oid = i.inhparent
                    join pg_namespace n on n.oid = p.relnamespace
                    where n.nspname = '{{schema}}' and p.relname = '{{Table}}' and c.relname ~ '_d[0-9]{8}$'
                    order by 2
                loop
                    exit when ((part.day + 1)::timestamp at time zone 'UTC') > expired;
                    execute format('alter table %s detach partition %I.%I', parent, '{{schema}}', part.relname);
                    detached := detached + 1;
                end loop;
                return next;
            end
            $function$;
            """);
    }

    /// <summary>
    /// Makes the partitions from the oldest day still kept to <see cref="DaysAhead"/> days ahead, drops the partitions
    /// whose whole day is older than <paramref name="retention"/>, and deletes such rows from the default partition.
    /// </summary>
    public async Task<InboxMaintenance> MaintainAsync(TimeSpan retention, CancellationToken cancellationToken)
    {
        var done = await CallAsync(retention, cancellationToken);
        // Days detached by this call are dropped by the next, in a transaction of its own.
        if (done.Detached > 0) done = done with { Dropped = done.Dropped + (await CallAsync(retention, cancellationToken)).Dropped };
        if (done.Created > 0 || done.Dropped > 0 || done.Deleted > 0)
            logger.LogInformation("Inbox: {Created} day partitions made, {Dropped} expired ones dropped, {Deleted} expired entries " +
                "deleted from the default partition", done.Created, done.Dropped, done.Deleted);
        return done;
    }

    async Task<InboxMaintenance> CallAsync(TimeSpan retention, CancellationToken cancellationToken)
    {
        var schema = store.Options.DatabaseSchemaName;
        await using var command = dataSource.CreateCommand(
            $"select created, detached, dropped, deleted from {schema}.{MaintainFunction}($1, $2)");
        command.Parameters.Add(new NpgsqlParameter { Value = retention });
        command.Parameters.Add(new NpgsqlParameter { Value = DaysAhead });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new InboxMaintenance(reader.GetInt32(0), reader.GetInt32(1), reader.GetInt32(2), reader.GetInt64(3));
    }

    /// <summary>
    /// Done by the schema's owner (<c>worker schema</c>, or a worker that migrates at start): only the worker's own
    /// roles may drop inbox partitions, not every role that can reach the schema.
    /// </summary>
    internal async Task RestrictAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        var schema = store.Options.DatabaseSchemaName;
        await using var revoke = new NpgsqlCommand(
            $"revoke execute on function {schema}.{MaintainFunction}(interval, integer) from public", connection);
        await revoke.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>
    /// Carries the answers of an inbox made by an earlier release (<c>mt_doc_inboxentry</c>, one unpartitioned table)
    /// over into the partitioned one, those still inside the retention, and drops the old table: copies of commands
    /// answered before the upgrade are still recognised after it. Runs in one transaction, at most once.
    /// </summary>
    internal async Task<long?> CarryOverEarlierInboxAsync(NpgsqlConnection connection, TimeSpan retention,
        CancellationToken cancellationToken)
    {
        var schema = store.Options.DatabaseSchemaName;
        await using (var exists = new NpgsqlCommand($"select to_regclass('{schema}.mt_doc_inboxentry') is not null", connection))
        {
            if (await exists.ExecuteScalarAsync(cancellationToken) is not true) return null;
        }
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var copy = new NpgsqlCommand($"""
            insert into {schema}.{Table} (id, day, data)
            select old.id, at.day,
                   jsonb_build_object('id', old.id, 'succeeded', old.data->'succeeded', 'status', old.data->'status', 'body', old.data->'body')
            from {schema}.mt_doc_inboxentry old
            cross join lateral (select date_trunc('day', (old.data->>'processedAt')::timestamptz, 'UTC') as day) at
            where at.day + interval '1 day' > now() - $1
            on conflict do nothing
            """, connection, transaction);
        copy.Parameters.Add(new NpgsqlParameter { Value = retention });
        copy.CommandTimeout = 0;
        var carried = await copy.ExecuteNonQueryAsync(cancellationToken);
        await using (var drop = new NpgsqlCommand($"drop table {schema}.mt_doc_inboxentry", connection, transaction))
        {
            await drop.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        logger.LogInformation("Inbox: {Carried} answers of the earlier inbox table mt_doc_inboxentry carried over into " +
            "{Table}, and the old table dropped", carried, Table);
        return carried;
    }
}

/// <summary>What one maintenance pass of the inbox did.</summary>
public sealed record InboxMaintenance(int Created, int Detached, int Dropped, long Deleted);
