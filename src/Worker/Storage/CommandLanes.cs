using System.Diagnostics;
using Microsoft.Extensions.Options;
using Worker.Health;

namespace Worker.Storage;

/// <summary>
/// What a command does to the store once it is its turn, and how to answer it. <see cref="Reads"/> names the
/// documents it loads by id, for a batch to read them all ahead in one query.
/// </summary>
public sealed record CommandWork(Guid? MessageId, CommandInbox.Apply Apply,
    CommandOutcome? WhenConflictsPersist = null)
{
    public IReadOnlyList<DocumentRef> Reads { get; init; } = [];
}

/// <summary>
/// A command's place in its lane, taken in the order the broker delivered the commands, and the document it changes.
/// The lane applies a document's commands in ticket order, so a command is never applied before an earlier one for
/// the same document.
/// </summary>
public sealed class CommandTicket
{
    internal CommandTicket(int lane, long sequence, string documentKey, Func<bool>? isGone) =>
        (Lane, Sequence, DocumentKey, _isGone) = (lane, sequence, documentKey, isGone);

    readonly Func<bool>? _isGone;

    internal int Lane { get; }
    internal long Sequence { get; }
    internal string DocumentKey { get; }

    /// <summary>Set once the delivery is done with; a failure after that holds nothing (nobody would let go).</summary>
    internal bool Settled { get; set; }

    /// <summary>Whether the delivery can no longer be acknowledged (its channel is gone): the broker delivers it again.</summary>
    internal bool IsGone => _isGone?.Invoke() ?? false;
}

/// <summary>
/// A command was not applied because its delivery is gone: the broker delivers it again, in its turn. An
/// <see cref="OperationCanceledException"/>, so that it is neither retried nor answered.
/// </summary>
public sealed class DeliveryGoneException() : OperationCanceledException("The command's delivery is gone; the broker delivers it again");

/// <summary>
/// Applies commands in delivery order, many to a transaction. Each document belongs to one lane (by a hash of its
/// key); a lane takes whatever commands are waiting, up to <see cref="StorageOptions.BatchSize"/>, and commits them
/// with their inbox records in one transaction, so the commit cost is shared while every command is still answered
/// on its own. Should anything in a batch fail, the batch is rolled back and its commands are applied one per
/// transaction, in the same order, which gives each its own answer.
/// <para>
/// A command that fails while the database does not answer has not failed: the database is away
/// (<see cref="DependencyOutages"/>), and the lane waits with the command at its head until it is back, then tries it
/// again; the outage spends none of its retries. Any other failure is the command's own.
/// </para>
/// <para>
/// A command that fails, for whatever reason of its own, <b>holds its document</b>: the document's later commands wait, parked,
/// until it is settled, that is applied by one of its retries, or done with (answered as failed and moved to the error
/// queue, or given back to the broker). Its retries come back to the lane ahead of every later place. Other documents
/// go on. Nothing here waits on a timer.
/// </para>
/// </summary>
public sealed partial class CommandLanes : IAsyncDisposable
{
    readonly CommandInbox _inbox;
    readonly DependencyOutages _outages;
    readonly WorkerMetrics _metrics;
    readonly StorageOptions _options;
    readonly ILogger<CommandLanes> _logger;
    readonly Lane[] _lanes;
    readonly CancellationTokenSource _stopping = new();

    public CommandLanes(CommandInbox inbox, DependencyOutages outages, WorkerMetrics metrics, IOptions<StorageOptions> options,
        ILogger<CommandLanes> logger)
    {
        (_inbox, _outages, _metrics, _options, _logger) = (inbox, outages, metrics, options.Value, logger);
        _lanes = Enumerable.Range(0, Math.Max(1, _options.Lanes)).Select(i => new Lane(this, i)).ToArray();
        metrics.ObserveOldestHold(() => _lanes.Max(lane => lane.OldestHold()).TotalSeconds);
    }

    /// <summary>
    /// Takes the next place in the lane of a document. Call in delivery order. <paramref name="isGone"/> tells whether
    /// the command's delivery is gone; such a command is not applied.
    /// </summary>
    public CommandTicket Issue(string documentKey, Func<bool>? isGone = null) =>
        _lanes[(int)((uint)StableHash(documentKey) % (uint)_lanes.Length)].Issue(documentKey, isGone);

    /// <summary>
    /// Applies the command once its turn comes: its place, or at once for a retry of a command that failed. Without
    /// a ticket (a command outside any delivery order) it takes the next place in its lane.
    /// </summary>
    public Task<CommandOutcome> ApplyAsync(CommandTicket? ticket, string documentKey, CommandWork work,
        CancellationToken cancellationToken)
    {
        ticket ??= Issue(documentKey);
        return _lanes[ticket.Lane].Submit(ticket, work).WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Gives up the place of a command refused before it reaches the store, at once rather than after its answer is
    /// published, so that the lane goes on; returns the refusal.
    /// </summary>
    public Task<CommandOutcome> Refuse(CommandTicket? ticket, CommandOutcome refusal)
    {
        if (ticket is not null) _lanes[ticket.Lane].GiveUp(ticket);
        return Task.FromResult(refusal);
    }

    /// <summary>
    /// The command's delivery is done with (acknowledged, moved, or given back to the broker): its place, if unused,
    /// is given up, and its document is no longer held for it.
    /// </summary>
    public void Settle(CommandTicket ticket) => _lanes[ticket.Lane].Settle(ticket);

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _stopping.Dispose();
    }

    // string.GetHashCode is randomised per process; any stable hash will do, it only picks a lane.
    static int StableHash(string key)
    {
        var hash = 2166136261u;
        foreach (var c in key) hash = (hash ^ c) * 16777619u;
        return (int)hash;
    }

    async Task ApplyInOrderAsync(Lane lane, List<Pending> batch, CancellationToken stopping)
    {
        for (var done = 0; done < batch.Count;)
        {
            // Commands without a message id cannot be told apart in an inbox lookup: they go one at a time.
            var run = batch.Skip(done).TakeWhile(p => p.Work.MessageId is not null).ToList();
            if (run.Count > 1 && !run.Any(p => p.Ticket.IsGone) && await TryApplyTogetherAsync(run, stopping) is { } outcomes)
            {
                for (var i = 0; i < run.Count; i++) lane.Applied(run[i], outcomes[i]);
                _metrics.Batch(run.Count);
                done += run.Count;
                continue;
            }
            for (var end = done + Math.Max(1, run.Count); done < end; done++) await ApplyOneAsync(lane, batch[done], stopping);
        }
    }

    async Task ApplyOneAsync(Lane lane, Pending pending, CancellationToken stopping)
    {
        // An earlier command of this batch failed and now holds the document.
        if (lane.ParkIfHeld(pending)) return;
        while (true)
        {
            if (pending.Ticket.IsGone)
            {
                // Applied now, it could overtake the earlier commands of its channel that the broker delivers again.
                lane.Fail(pending, new DeliveryGoneException());
                return;
            }
            try
            {
                var work = pending.Work;
                using var span = CommandTracing.StartApplying([pending.Trace]);
                var outcome = await _inbox.ApplyOnceAsync(work.MessageId, work.Apply, stopping, work.WhenConflictsPersist);
                _metrics.Batch(1);
                lane.Applied(pending, outcome);
                return;
            }
            catch (Exception e)
            {
                WithoutDriverObjects(e);
                if (!await WaitedOutAnOutageAsync(e, stopping))
                {
                    // The database answers, so whatever failed (a bug, data it refuses, a dropped connection) is the
                    // command's own: its consumer retries it and, failing that, answers it as failed; its document waits.
                    _logger.LogDebug(e, "Applying a command failed; its document waits until it is settled");
                    lane.Fail(pending, e);
                    return;
                }
                // The database was away and is back: the same command, at the head of its lane, is tried again. Its
                // retries were not spent on the outage, and no later command went ahead of it.
            }
        }
    }

    /// <summary>
    /// Whether the failure came from a database that is away: then the lane, and every command waiting in it, waits
    /// until it is back, however long that takes, and true is returned. False when the database answers, or the worker
    /// stops meanwhile.
    /// </summary>
    async Task<bool> WaitedOutAnOutageAsync(Exception failure, CancellationToken stopping)
    {
        try
        {
            if (stopping.IsCancellationRequested || !await _outages.DatabaseIsAwayAsync(stopping)) return false;
            _logger.LogDebug(failure, "A statement failed while the database is away; the lane waits until it is back");
            await _outages.Database.WaitUntilBackAsync(stopping);
            return true;
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            return false;
        }
    }

    // Null when anything failed: the commands are then applied one per transaction, each failing on its own if it must.
    async Task<IReadOnlyList<CommandOutcome>?> TryApplyTogetherAsync(List<Pending> run, CancellationToken stopping)
    {
        using var span = CommandTracing.StartApplying(run.Select(p => p.Trace).ToList());
        try
        {
            return await _inbox.ApplyTogetherAsync(run.Select(p => p.Work).ToList(), stopping);
        }
        catch (Exception e)
        {
            _logger.LogDebug(e, "Applying {Count} commands together failed; applying them one by one", run.Count);
            return null;
        }
    }

    // Marten puts the failed NpgsqlCommand or NpgsqlBatch into the exception's Data; MassTransit copies Data into the
    // fault it publishes and cannot serialize those, which turned a database failure into an "unreadable command".
    // The command text is in the exception's message already.
    static void WithoutDriverObjects(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
        {
            var keys = e.Data.Keys.Cast<object>().Where(key => e.Data[key] is not (null or string or ValueType)).ToList();
            foreach (var key in keys) e.Data.Remove(key);
        }
    }
}
