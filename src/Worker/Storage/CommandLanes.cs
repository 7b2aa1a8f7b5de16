using System.Diagnostics;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Worker.Storage;

/// <summary>
/// What a command does to the store once it is its turn, and how to answer it. <see cref="Reads"/> names the
/// documents it loads by id, for a batch to read them all ahead in one query.
/// </summary>
public sealed record CommandWork(Guid? MessageId, string Queue, CommandInbox.Apply Apply,
    CommandOutcome? WhenConflictsPersist = null)
{
    public IReadOnlyList<DocumentRef> Reads { get; init; } = [];
}

/// <summary>
/// A command's place in its lane, taken in the order the broker delivered the commands. The lane applies commands
/// in ticket order, so a command is never applied before an earlier one for the same document.
/// </summary>
public sealed class CommandTicket
{
    internal CommandTicket(int lane, long sequence) => (Lane, Sequence) = (lane, sequence);

    internal int Lane { get; }
    internal long Sequence { get; }
}

/// <summary>
/// Applies commands in delivery order, many to a transaction. Each document belongs to one lane (by a hash of its
/// key); a lane takes whatever commands are waiting, up to <see cref="StorageOptions.BatchSize"/>, and commits them
/// with their inbox records in one transaction, so the commit cost is shared while every command is still answered
/// on its own. Should anything in a batch fail at the database (a unique index, a concurrent writer), the batch is
/// rolled back and its commands are applied one per transaction, in the same order, which gives each its own answer.
/// A lane retries a batch that failed for a transient reason in place, so later commands never overtake it.
/// </summary>
public sealed class CommandLanes : IAsyncDisposable
{
    readonly CommandInbox _inbox;
    readonly WorkerMetrics _metrics;
    readonly StorageOptions _options;
    readonly ILogger<CommandLanes> _logger;
    readonly Lane[] _lanes;
    readonly CancellationTokenSource _stopping = new();

    public CommandLanes(CommandInbox inbox, WorkerMetrics metrics, IOptions<StorageOptions> options,
        ILogger<CommandLanes> logger)
    {
        (_inbox, _metrics, _options, _logger) = (inbox, metrics, options.Value, logger);
        _lanes = Enumerable.Range(0, Math.Max(1, _options.Lanes)).Select(i => new Lane(this, i)).ToArray();
    }

    /// <summary>Takes the next place in the lane of a document. Call in delivery order.</summary>
    public CommandTicket Issue(string documentKey) =>
        _lanes[(int)((uint)StableHash(documentKey) % (uint)_lanes.Length)].Issue();

    /// <summary>
    /// Applies the command once its turn comes. Without a ticket (a command outside any delivery order, or a
    /// ticket already used by an earlier attempt) it takes the next turn in its lane.
    /// </summary>
    public Task<CommandOutcome> ApplyAsync(CommandTicket? ticket, string documentKey, CommandWork work,
        CancellationToken cancellationToken)
    {
        ticket ??= Issue(documentKey);
        return _lanes[ticket.Lane].Submit(ticket.Sequence, work, documentKey).WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Gives up the place of a command refused before it reaches the store, at once rather than after its answer is
    /// published, so that the lane goes on; returns the refusal.
    /// </summary>
    public Task<CommandOutcome> Refuse(CommandTicket? ticket, CommandOutcome refusal)
    {
        Release(ticket);
        return Task.FromResult(refusal);
    }

    /// <summary>Gives up a place that will not be used (the command failed before reaching the store).</summary>
    public void Release(CommandTicket? ticket)
    {
        if (ticket is not null) _lanes[ticket.Lane].Release(ticket.Sequence);
    }

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

    sealed class Pending(CommandWork work, string documentKey)
    {
        public CommandWork Work { get; } = work;
        public string DocumentKey { get; } = documentKey;
        public TaskCompletionSource<CommandOutcome> Outcome { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);
        /// <summary>The span the command is handled in, for the database work done for it.</summary>
        public ActivityContext Trace { get; } = Activity.Current?.Context ?? default;
    }

    sealed class Lane
    {
        /// <summary>How long the lane waits for a place that was issued but neither used nor given up.</summary>
        static readonly TimeSpan GapTimeout = TimeSpan.FromSeconds(5);

        readonly CommandLanes _owner;
        readonly int _index;
        readonly Lock _gate = new();
        readonly SortedDictionary<long, Pending?> _waiting = [];
        readonly Queue<Pending> _late = new();
        readonly SemaphoreSlim _signal = new(0);
        long _issued;
        long _next = 1;
        Task? _loop;

        public Lane(CommandLanes owner, int index) => (_owner, _index) = (owner, index);

        public CommandTicket Issue()
        {
            lock (_gate) return new CommandTicket(_index, ++_issued);
        }

        public Task<CommandOutcome> Submit(long sequence, CommandWork work, string documentKey)
        {
            var pending = new Pending(work, documentKey);
            lock (_gate)
            {
                // A place already passed (given up, skipped, or used by an earlier attempt) goes to the front.
                if (sequence < _next || _waiting.ContainsKey(sequence)) _late.Enqueue(pending);
                else _waiting[sequence] = pending;
                _loop ??= Task.Run(RunAsync);
            }
            _signal.Release();
            return pending.Outcome.Task;
        }

        public void Release(long sequence)
        {
            lock (_gate)
            {
                if (sequence < _next || _waiting.ContainsKey(sequence)) return;
                _waiting[sequence] = null;
                _loop ??= Task.Run(RunAsync);
            }
            _signal.Release();
        }

        async Task RunAsync()
        {
            // The loop outlives the command whose arrival started it: its spans belong to the commands of each batch.
            Activity.Current = null;
            var token = _owner._stopping.Token;
            var gapSince = (DateTime?)null;
            while (!token.IsCancellationRequested)
            {
                var batch = Take(ref gapSince);
                if (batch.Count == 0)
                {
                    try
                    {
                        await _signal.WaitAsync(gapSince is null ? Timeout.InfiniteTimeSpan : TimeSpan.FromMilliseconds(100), token);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                    continue;
                }
                await _owner.ApplyInOrderAsync(batch, token);
            }
        }

        // The commands whose turn it is, in order, up to the batch size.
        List<Pending> Take(ref DateTime? gapSince)
        {
            var batch = new List<Pending>();
            var limit = Math.Max(1, _owner._options.BatchSize);
            lock (_gate)
            {
                while (batch.Count < limit && _late.TryDequeue(out var late)) batch.Add(late);
                while (batch.Count < limit)
                {
                    if (_waiting.Remove(_next, out var pending))
                    {
                        _next++;
                        if (pending is not null) batch.Add(pending);
                        continue;
                    }
                    if (_next > _issued || _waiting.Count == 0) break;
                    // A place was issued but is still neither used nor given up. A command in flight soon fills it;
                    // one that never does (its consumer vanished) must not hold up the lane for good.
                    if (batch.Count > 0) break;
                    gapSince ??= DateTime.UtcNow;
                    if (DateTime.UtcNow - gapSince < GapTimeout) break;
                    _owner._logger.LogWarning("Lane {Lane}: place {Sequence} was not used within {Timeout}; going on without it",
                        _index, _next, GapTimeout);
                    _next++;
                    gapSince = null;
                }
                if (batch.Count > 0) gapSince = null;
            }
            return batch;
        }
    }

    async Task ApplyInOrderAsync(List<Pending> batch, CancellationToken stopping)
    {
        var (done, oneByOneUntil) = (0, 0);
        for (var attempt = 1; done < batch.Count; attempt++)
        {
            try
            {
                if (done >= oneByOneUntil)
                {
                    // Commands without a message id cannot be told apart in an inbox lookup: they go one at a time.
                    var run = batch.Skip(done).TakeWhile(p => p.Work.MessageId is not null).ToList();
                    if (run.Count > 1 && await ApplyTogetherAsync(run, stopping) is { } outcomes)
                    {
                        for (var i = 0; i < run.Count; i++) run[i].Outcome.TrySetResult(outcomes[i]);
                        _metrics.Batch(run.Count);
                        done += run.Count;
                        attempt = 0;
                        continue;
                    }
                    oneByOneUntil = done + Math.Max(1, run.Count);
                }
                var pending = batch[done];
                var work = pending.Work;
                using var span = CommandTracing.StartApplying([pending.Trace]);
                pending.Outcome.TrySetResult(await _inbox.ApplyOnceAsync(work.MessageId, work.Queue, work.Apply,
                    stopping, work.WhenConflictsPersist));
                _metrics.Batch(1);
                done++;
                attempt = 0;
            }
            catch (Exception e) when (IsTransient(e) && attempt < _options.BatchAttempts && !stopping.IsCancellationRequested)
            {
                // The database is down or restarting: wait and try the same commands again, keeping the order.
                var delay = TimeSpan.FromMilliseconds(Math.Min(10_000, 200 * Math.Pow(2, attempt - 1)));
                _logger.LogWarning("Applying {Count} commands failed ({Message}); attempt {Attempt} in {Delay}",
                    batch.Count - done, e.Message, attempt + 1, delay);
                try { await Task.Delay(delay, stopping); } catch (OperationCanceledException) { }
            }
            catch (Exception e)
            {
                WithoutDriverObjects(e);
                foreach (var pending in batch.Skip(done)) pending.Outcome.TrySetException(e);
                return;
            }
        }
    }

    async Task<IReadOnlyList<CommandOutcome>?> ApplyTogetherAsync(List<Pending> run, CancellationToken stopping)
    {
        using var span = CommandTracing.StartApplying(run.Select(p => p.Trace).ToList());
        return await _inbox.TryApplyTogetherAsync(run.Select(p => p.Work).ToList(), stopping);
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

    // What may go away by itself; anything else is handed to the command's consumer, whose retries and error queue
    // deal with it.
    internal static bool IsTransient(Exception e) =>
        e is NpgsqlException { IsTransient: true } or TimeoutException or System.IO.IOException
        || e.InnerException is { } inner && IsTransient(inner);
}
