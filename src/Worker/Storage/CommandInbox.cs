using JasperFx;
using JasperFx.Events;
using Marten;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Worker.Storage;

/// <summary>
/// Applies commands at most once per message id: the state change and the command's answer (an
/// <see cref="InboxEntry"/>) are committed in one transaction, and a redelivered copy is answered from the entry. A
/// refused command changes nothing: its transaction is rolled back and only its answer is recorded.
/// </summary>
public sealed class CommandInbox(IDocumentStore store, NpgsqlDataSource dataSource, IOptions<StorageOptions> options,
    TimeProvider clock)
{
    readonly int _attempts = options.Value.ConcurrencyAttempts;
    readonly string _inboxTable = new Weasel.Postgresql.PostgresqlObjectName(store.Options.DatabaseSchemaName, InboxPartitions.Table,
        Weasel.Postgresql.SchemaUtils.IdentifierUsage.General).QualifiedName;

    public delegate Task<CommandOutcome> Apply(CommandSession session, CancellationToken cancellationToken);

    /// <summary>Applies one command in a transaction of its own.</summary>
    /// <param name="whenConflictsPersist">
    /// The answer when other writers keep winning through every attempt; without one, the conflict is thrown and the
    /// message retried.
    /// </param>
    public async Task<CommandOutcome> ApplyOnceAsync(Guid? messageId, Apply apply,
        CancellationToken cancellationToken, CommandOutcome? whenConflictsPersist = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            CommandOutcome outcome;
            await using (var session = await CommandSession.BeginAsync(store, dataSource, cancellationToken))
            {
                if (messageId is { } seen && await session.Marten.LoadAsync<InboxEntry>(seen, cancellationToken) is { } earlier)
                {
                    return CommandOutcome.Repeat(earlier);
                }
                try
                {
                    outcome = await apply(session, cancellationToken);
                    if (outcome.Succeeded)
                    {
                        if (messageId is { } id) session.Marten.Insert(Entry(id, outcome));
                        await session.CommitAsync(cancellationToken);
                        return outcome;
                    }
                }
                catch (DocumentAlreadyExistsException e) when (e.DocType == typeof(InboxEntry))
                {
                    // A concurrent copy of the same message was recorded first: the next turn answers with its result.
                    continue;
                }
                catch (DocumentAlreadyExistsException) when (session.WhenUniqueIndexRefuses is { } refusal)
                {
                    outcome = refusal;
                }
                catch (Exception e) when (IsConflict(e) && attempt < _attempts)
                {
                    continue;
                }
                catch (Exception e) when (IsConflict(e) && whenConflictsPersist is not null)
                {
                    outcome = whenConflictsPersist;
                }
            }
            if (!await TryRecordAsync(messageId, outcome, cancellationToken)) continue;
            return outcome;
        }
    }

    /// <summary>
    /// Applies the commands in one transaction: one batched query reads their earlier answers and documents, one
    /// <c>SaveChangesAsync</c> writes what they changed with their answers. Throws, having changed nothing, when
    /// anything fails (a unique index, another writer, a copy recorded meanwhile, the database going away): the answers
    /// given so far may be wrong, and applying the commands one per transaction gives each its own.
    /// </summary>
    public async Task<CommandOutcome[]> ApplyTogetherAsync(IReadOnlyList<CommandWork> run, CancellationToken cancellationToken)
    {
        await using var session = await CommandSession.BeginAsync(store, dataSource, cancellationToken);
        var answered = new Dictionary<Guid, CommandOutcome>();
        await session.ReadAheadAsync(run.Select(w => w.MessageId!.Value).ToList(), run.SelectMany(w => w.Reads), answered,
            cancellationToken);

        var outcomes = new CommandOutcome[run.Count];
        var entries = new List<InboxEntry>(run.Count);
        for (var i = 0; i < run.Count; i++)
        {
            var work = run[i];
            var id = work.MessageId!.Value;
            if (answered.TryGetValue(id, out var earlier))
            {
                outcomes[i] = earlier;
                continue;
            }
            outcomes[i] = await work.Apply(session, cancellationToken);
            // A second copy of the same message in one batch is answered like the first.
            answered[id] = outcomes[i] with { Repeated = true };
            entries.Add(Entry(id, outcomes[i]));
        }
        if (entries.Count > 0) session.Marten.QueueOperation(new InboxEntries(_inboxTable, entries, store.Options.Serializer()));
        await session.CommitAsync(cancellationToken);
        return outcomes;
    }

    InboxEntry Entry(Guid messageId, CommandOutcome outcome) => new()
    {
        Id = messageId, Succeeded = outcome.Succeeded, Status = outcome.Status, Body = outcome.Body.GetRawText(),
        Day = InboxEntry.DayOf(clock.GetUtcNow()),
    };

    // Another writer changed a document (or appended to its stream) between read and write: run the command again.
    static bool IsConflict(Exception e) =>
        e is ConcurrencyException or EventStreamUnexpectedMaxEventIdException
        || e.InnerException is { } inner && IsConflict(inner);

    async Task<bool> TryRecordAsync(Guid? messageId, CommandOutcome outcome,
        CancellationToken cancellationToken)
    {
        // Without a message id there is nothing to recognise a copy by; such commands are applied as they come.
        if (messageId is not { } id) return true;
        await using var session = store.LightweightSession();
        session.Insert(Entry(id, outcome));
        try
        {
            await session.SaveChangesAsync(cancellationToken);
            return true;
        }
        catch (DocumentAlreadyExistsException)
        {
            return false;
        }
    }
}
