using System.Text.Json;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Worker.Storage;

/// <summary>
/// Applies a command at most once per message id: the state change and the command's answer are committed in one
/// transaction, and a redelivered copy is answered from the stored result. A failed command changes nothing: its
/// transaction is rolled back and only its answer is recorded.
/// </summary>
public sealed class CommandInbox(NpgsqlDataSource dataSource, IOptions<StorageOptions> options)
{
    readonly string _table = $"{options.Value.Schema}.worker_inbox";
    readonly int _attempts = options.Value.ConcurrencyAttempts;

    public delegate Task<CommandOutcome> Apply(NpgsqlConnection connection, NpgsqlTransaction transaction,
        CancellationToken cancellationToken);

    public string Ddl => $"""
        create table if not exists {_table} (
            message_id   uuid        primary key,
            queue        varchar     not null,
            succeeded    boolean     not null,
            status       integer     not null,
            body         json        not null, -- json, not jsonb: a repeated answer is the same text
            processed_at timestamptz not null default now()
        );
        create index if not exists worker_inbox_idx_processed_at on {_table} (processed_at);
        """;

    /// <param name="whenConflictsPersist">
    /// The answer when other writers keep winning through every attempt; without one, the conflict is thrown and the
    /// message retried.
    /// </param>
    public async Task<CommandOutcome> ApplyOnceAsync(Guid? messageId, string queue, Apply apply,
        CancellationToken cancellationToken, CommandOutcome? whenConflictsPersist = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            CommandOutcome outcome;
            await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
            {
                if (messageId is { } seen && await FindAsync(connection, transaction, seen, cancellationToken) is { } earlier)
                {
                    return earlier;
                }
                try
                {
                    outcome = await apply(connection, transaction, cancellationToken);
                }
                catch (DocumentChangedConcurrentlyException) when (attempt < _attempts)
                {
                    continue;
                }
                catch (DocumentChangedConcurrentlyException) when (whenConflictsPersist is not null)
                {
                    outcome = whenConflictsPersist;
                }
                if (outcome.Succeeded)
                {
                    // A concurrent copy of the same message recorded first: roll back and answer with its result.
                    if (!await TryRecordAsync(connection, transaction, messageId, queue, outcome, cancellationToken)) continue;
                    await transaction.CommitAsync(cancellationToken);
                    return outcome;
                }
                await transaction.RollbackAsync(cancellationToken);
            }
            if (!await TryRecordAsync(connection, null, messageId, queue, outcome, cancellationToken)) continue;
            return outcome;
        }
    }

    /// <summary>
    /// Adds to <paramref name="trip"/> the lookup of the recorded answers of those of the given messages that were
    /// processed before; they are put in <paramref name="answered"/>.
    /// </summary>
    public void FindMany(RoundTrip trip, IReadOnlyCollection<Guid> messageIds, Dictionary<Guid, CommandOutcome> answered)
    {
        var command = new NpgsqlBatchCommand($"select message_id, succeeded, status, body from {_table} where message_id = any($1)");
        command.Parameters.Add(new NpgsqlParameter { Value = messageIds.ToArray() });
        trip.Query(command, async (reader, cancellationToken) =>
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var body = JsonSerializer.Deserialize<JsonElement>(reader.GetString(3));
                answered[reader.GetGuid(0)] = new CommandOutcome(reader.GetBoolean(1), reader.GetInt32(2), body) { Repeated = true };
            }
        });
    }

    /// <summary>
    /// Adds to <paramref name="trip"/> the record of several messages' answers in one statement;
    /// <paramref name="recorded"/> is told how many were new (a message another worker recorded meanwhile is not).
    /// </summary>
    public void RecordMany(RoundTrip trip, IReadOnlyList<(Guid Id, string Queue, CommandOutcome Outcome)> answers,
        Action<int> recorded)
    {
        var command = new NpgsqlBatchCommand(
            $"""
             insert into {_table} (message_id, queue, succeeded, status, body)
             select * from unnest($1::uuid[], $2::varchar[], $3::boolean[], $4::integer[], $5::json[])
             on conflict (message_id) do nothing
             """);
        command.Parameters.Add(new NpgsqlParameter { Value = answers.Select(a => a.Id).ToArray() });
        command.Parameters.Add(new NpgsqlParameter { Value = answers.Select(a => a.Queue).ToArray() });
        command.Parameters.Add(new NpgsqlParameter { Value = answers.Select(a => a.Outcome.Succeeded).ToArray() });
        command.Parameters.Add(new NpgsqlParameter { Value = answers.Select(a => a.Outcome.Status).ToArray() });
        command.Parameters.Add(new NpgsqlParameter
        {
            Value = answers.Select(a => a.Outcome.Body.GetRawText()).ToArray(),
            NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Json,
        });
        trip.Execute(command, recorded);
    }

    public async Task<int> DeleteExpiredAsync(TimeSpan retention, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"delete from {_table} where processed_at < now() - $1");
        command.Parameters.Add(new NpgsqlParameter { Value = retention });
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    async Task<CommandOutcome?> FindAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid messageId,
        CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            $"select succeeded, status, body from {_table} where message_id = $1", connection, transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = messageId });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken)) return null;
        var body = JsonSerializer.Deserialize<JsonElement>(reader.GetString(2));
        return new CommandOutcome(reader.GetBoolean(0), reader.GetInt32(1), body) { Repeated = true };
    }

    async Task<bool> TryRecordAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, Guid? messageId,
        string queue, CommandOutcome outcome, CancellationToken cancellationToken)
    {
        // Without a message id there is nothing to recognise a copy by; such commands are applied as they come.
        if (messageId is not { } id) return true;
        await using var command = new NpgsqlCommand(
            $"""
             insert into {_table} (message_id, queue, succeeded, status, body) values ($1, $2, $3, $4, $5)
             on conflict (message_id) do nothing
             """, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter { Value = id });
        command.Parameters.Add(new NpgsqlParameter { Value = queue });
        command.Parameters.Add(new NpgsqlParameter { Value = outcome.Succeeded });
        command.Parameters.Add(new NpgsqlParameter { Value = outcome.Status });
        command.Parameters.Add(new NpgsqlParameter { Value = outcome.Body.GetRawText(), NpgsqlDbType = NpgsqlDbType.Json });
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }
}
