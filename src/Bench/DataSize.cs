using System.Diagnostics;
using Npgsql;
using Worker.Storage;

namespace Bench;

/// <summary>
/// Grows the bench's data to the size being measured, in SQL and in setup only: more documents of each kind, cloned
/// from the first one the demo import made, and inbox entries spread over the retention window, as a worker that has
/// run for a week leaves them. The import through Marten keeps putting the first 1,000 documents back before each run;
/// the clones are only ever changed by the commands.
/// </summary>
public sealed class DataSize(NpgsqlDataSource database)
{
    /// <summary>How a kind of document is cloned: its table and tenant, the template's id, the clone's id and fields.</summary>
    sealed record Kind(string Table, string Tenant, string TemplateId, string IdSql, string JsonSql);

    static readonly Kind[] Kinds =
    [
        new("mt_doc_leadsegment", "bench", "'bench-0'", "'bench-' || g",
            "jsonb_build_object('id', 'bench-' || g, 'code', 'BENCH' || g)"),
        new("mt_doc_account", "*DEFAULT*", $"'{BenchWorkload.AccountId(0)}'", AccountIdSql,
            $"jsonb_build_object('id', {AccountIdSql}, 'name', 'bench ' || g)"),
        new("mt_doc_customer", "*DEFAULT*", $"{BenchWorkload.CustomerId(0)}", $"{BenchWorkload.CustomerId(0)} + g",
            $"jsonb_build_object('id', {BenchWorkload.CustomerId(0)} + g, 'reference', 'BC-' || g)"),
        new("mt_doc_customerpromotionlist", "*DEFAULT*", $"{BenchWorkload.AssignmentId(0)}", $"{BenchWorkload.AssignmentId(0)} + g",
            $"jsonb_build_object('id', {BenchWorkload.AssignmentId(0)} + g, 'customerId', {BenchWorkload.CustomerId(0)} + g, " +
            "'customerReference', 'BC-' || g)"),
    ];

    static string AccountIdSql => $"lpad(to_hex({BenchWorkload.AccountId0Number}::bigint + g), 24, '0')";

    /// <summary>
    /// Makes documents <c>[from, to)</c> of every kind that do not exist yet, in statements of 100,000 rows.
    /// </summary>
    public async Task GrowDocumentsAsync(int from, int to, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        foreach (var kind in Kinds)
        {
            var columns = await ColumnsAsync(kind.Table, cancellationToken);
            var select = string.Join(", ", columns.Select(column => column switch
            {
                "id" => kind.IdSql,
                "data" => $"t.data || {kind.JsonSql}",
                _ => $"t.{column}",
            }));
            for (var start = from; start < to; start += 100_000)
            {
                var end = Math.Min(to, start + 100_000) - 1;
                await ExecuteAsync($"""
                    insert into {kind.Table} ({string.Join(", ", columns)})
                    select {select} from {kind.Table} t, generate_series({start}, {end}) g
                    where t.tenant_id = '{kind.Tenant}' and t.id = {kind.TemplateId}
                    on conflict do nothing
                    """, cancellationToken);
            }
        }
        await ExecuteAsync("vacuum analyze", cancellationToken);
        await SettleAsync(cancellationToken);
        Console.WriteLine($"documents {from:N0} to {to:N0} of each kind made in {Stopwatch.GetElapsedTime(started).TotalSeconds:F0} s");
    }

    /// <summary>
    /// Adds inbox entries spread evenly over the days of the retention window (today and the 7 days before it), each
    /// with the answer to a lead-segment update as its body (the most common answer, and the largest).
    /// </summary>
    public async Task FillInboxAsync(long entries, int days, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        await using (var maintain = database.CreateCommand("select * from mt_inbox_maintain(make_interval(days => $1), 3)"))
        {
            maintain.Parameters.Add(new NpgsqlParameter { Value = days });
            await maintain.ExecuteNonQueryAsync(cancellationToken);
        }
        for (long start = 0; start < entries; start += 1_000_000)
        {
            var end = Math.Min(entries, start + 1_000_000) - 1;
            await ExecuteAsync($$"""
                set synchronous_commit = off;
                insert into mt_doc_inbox (id, day, data)
                select id, date_trunc('day', now(), 'UTC') - make_interval(days => (g % {{days + 1}})::int),
                       jsonb_build_object('id', id, 'succeeded', true, 'status', 200, 'body',
                           '{"id":"bench-' || (g % 1000000) || '","code":"BENCH' || (g % 1000000) ||
                           '","description":"bench-' || g || '","createdAt":"2024-01-01T00:00:00+00:00","updatedAt":"' ||
                           to_char(now(), 'YYYY-MM-DD"T"HH24:MI:SS.US') || '+00:00","earliestCallbackHours":null,' ||
                           '"latestCallbackHours":null}')
                from (select g, gen_random_uuid() as id from generate_series({{start}}::bigint, {{end}}::bigint) g) entries
                """, cancellationToken);
            Console.Write($"\rinbox: {end + 1:N0} of {entries:N0} entries");
        }
        Console.WriteLine();
        await ExecuteAsync("vacuum analyze mt_doc_inbox", cancellationToken);
        await SettleAsync(cancellationToken);
        Console.WriteLine($"inbox filled with {entries:N0} entries over {days + 1} days in {Stopwatch.GetElapsedTime(started).TotalSeconds:F0} s");
    }

    /// <summary>The database's size, and the inbox's rows and bytes (table, indexes, TOAST) per entry.</summary>
    public async Task<StorageFigures> MeasureAsync(CancellationToken cancellationToken)
    {
        await using var command = database.CreateCommand("""
            select pg_database_size(current_database()),
                   (select count(*) from mt_doc_inbox),
                   (select coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) from pg_inherits i
                    where i.inhparent = 'mt_doc_inbox'::regclass)
            """);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var (bytes, entries, inbox) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
        return new StorageFigures(bytes, entries, inbox, entries == 0 ? null : (double)inbox / entries);
    }

    /// <summary>
    /// Two accounts of their own: one whose consent history already holds <paramref name="events"/> events (cloned in
    /// SQL from an event the workload appended), and one with none.
    /// </summary>
    public async Task MakeHistoryAsync(int longHistory, int noHistory, int events, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var account = Kinds.Single(kind => kind.Table == "mt_doc_account");
        var accountId = AccountIdSql;
        await CloneAsync(account.Table, new()
        {
            ["id"] = accountId,
            ["data"] = $"t.data || jsonb_build_object('id', {accountId}, 'name', 'bench ' || g, 'consentChanges', case when g = {longHistory} then {events} else 0 end)",
        }, $"from {account.Table} t, unnest(array[{longHistory}, {noHistory}]) g where t.tenant_id = '{account.Tenant}' and t.id = {account.TemplateId}",
            cancellationToken);
        var stream = $"'{BenchWorkload.AccountId(longHistory)}'";
        await CloneAsync("mt_streams", new() { ["id"] = stream, ["version"] = $"{events}" },
            "from (select * from mt_streams limit 1) t", cancellationToken);
        await CloneAsync("mt_events", new()
            {
                ["seq_id"] = "nextval('mt_events_sequence')", ["id"] = "gen_random_uuid()", ["stream_id"] = stream, ["version"] = "g",
            },
            $"from (select * from mt_events limit 1) t, generate_series(1, {events}) g", cancellationToken);
        await ExecuteAsync("vacuum analyze mt_events, mt_streams, mt_doc_account", cancellationToken);
        Console.WriteLine($"an account with {events:N0} consent events made in {Stopwatch.GetElapsedTime(started).TotalSeconds:F0} s");
    }

    /// <summary>The WAL PostgreSQL has written so far, in bytes (the whole server's).</summary>
    public async Task<long> WalBytesAsync(CancellationToken cancellationToken)
    {
        await using var command = database.CreateCommand("select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint");
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    // Copies rows of a table with some columns replaced.
    async Task CloneAsync(string table, Dictionary<string, string> replaced, string from, CancellationToken cancellationToken)
    {
        var columns = await ColumnsAsync(table, cancellationToken);
        var select = string.Join(", ", columns.Select(column => replaced.GetValueOrDefault(column, $"t.{column}")));
        await ExecuteAsync($"insert into {table} ({string.Join(", ", columns)}) select {select} {from} on conflict do nothing",
            cancellationToken);
    }

    /// <summary>
    /// Waits until what the setup wrote is on disk: a checkpoint, then the kernel's dirty pages drained (where /proc
    /// says). Gigabytes still being written back while a run is measured fall on its commits' fsyncs: the first size
    /// run measured the filled inbox that way, and its half-rate p99 doubled for the limit as much as for the worker.
    /// </summary>
    async Task SettleAsync(CancellationToken cancellationToken)
    {
        await ExecuteAsync("checkpoint", cancellationToken);
        var until = Stopwatch.GetTimestamp() + 600 * Stopwatch.Frequency;
        while (DirtyMegabytes() is > 64 && Stopwatch.GetTimestamp() < until)
            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
    }

    static long? DirtyMegabytes()
    {
        if (!File.Exists("/proc/meminfo")) return null;
        var line = File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("Dirty:"));
        return line is null ? null : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024;
    }

    async Task<List<string>> ColumnsAsync(string table, CancellationToken cancellationToken)
    {
        await using var command = database.CreateCommand(
            "select column_name from information_schema.columns where table_name = $1 and table_schema = current_schema() order by ordinal_position");
        command.Parameters.Add(new NpgsqlParameter { Value = table });
        var columns = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken)) columns.Add(reader.GetString(0));
        return columns;
    }

    async Task ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        await using var command = database.CreateCommand(sql);
        command.CommandTimeout = 0;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}

/// <summary>What the database holds at one data size.</summary>
public sealed record StorageFigures(long DatabaseBytes, long InboxEntries, long InboxBytes, double? InboxBytesPerEntry);
