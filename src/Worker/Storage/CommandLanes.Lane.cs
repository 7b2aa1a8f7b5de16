using System.Diagnostics;

namespace Worker.Storage;

/// <summary>
/// A lane's own state: the places it has handed out, the commands waiting for their turn, and the documents that
/// failed commands hold (see <see cref="CommandLanes"/> for the rule).
/// </summary>
public sealed partial class CommandLanes
{
    sealed class Pending(CommandTicket ticket, CommandWork work)
    {
        public CommandTicket Ticket { get; } = ticket;
        public CommandWork Work { get; } = work;
        public long Sequence => Ticket.Sequence;
        public TaskCompletionSource<CommandOutcome> Outcome { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);
        /// <summary>The span the command is handled in, for the database work done for it.</summary>
        public ActivityContext Trace { get; } = Activity.Current?.Context ?? default;
    }

    /// <summary>The failed commands holding a document, and the document's later commands parked behind them.</summary>
    sealed class Hold
    {
        public readonly SortedSet<long> By = [];
        public readonly SortedDictionary<long, Pending> Parked = [];
        /// <summary>When the document was first held (Stopwatch ticks).</summary>
        public readonly long Since = Stopwatch.GetTimestamp();
    }

    sealed class Lane(CommandLanes owner, int index)
    {
        readonly Lock _gate = new();
        /// <summary>Places not yet reached: a submitted command, or null for one given up.</summary>
        readonly SortedDictionary<long, Pending?> _waiting = [];
        /// <summary>Commands whose place has passed and that may go now: retries, and commands a hold let go.</summary>
        readonly SortedDictionary<long, Pending> _again = [];
        readonly Dictionary<string, Hold> _holds = [];
        readonly SemaphoreSlim _signal = new(0);
        long _issued;
        long _next = 1;
        Task? _loop;

        /// <summary>How long the longest-held document of this lane has been held.</summary>
        public TimeSpan OldestHold()
        {
            lock (_gate) return _holds.Count == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(_holds.Values.Min(h => h.Since));
        }

        public CommandTicket Issue(string documentKey, Func<bool>? isGone)
        {
            lock (_gate) return new CommandTicket(index, ++_issued, documentKey, isGone);
        }

        public Task<CommandOutcome> Submit(CommandTicket ticket, CommandWork work)
        {
            var pending = new Pending(ticket, work);
            lock (_gate)
            {
                if (ticket.Sequence >= _next) _waiting[ticket.Sequence] = pending;
                else _again[ticket.Sequence] = pending;
                _loop ??= Task.Run(RunAsync);
            }
            _signal.Release();
            return pending.Outcome.Task;
        }

        public void GiveUp(CommandTicket ticket)
        {
            lock (_gate)
            {
                if (ticket.Sequence < _next || !_waiting.TryAdd(ticket.Sequence, null)) return;
                _loop ??= Task.Run(RunAsync);
            }
            _signal.Release();
        }

        public void Settle(CommandTicket ticket)
        {
            GiveUp(ticket);
            lock (_gate)
            {
                ticket.Settled = true;
                Unhold(ticket);
            }
        }

        async Task RunAsync()
        {
            // The loop outlives the command whose arrival started it: its spans belong to the commands of each batch.
            Activity.Current = null;
            var token = owner._stopping.Token;
            while (!token.IsCancellationRequested)
            {
                var batch = Take();
                if (batch.Count == 0)
                {
                    try
                    {
                        await _signal.WaitAsync(token);
                    }
                    catch (OperationCanceledException)
                    {
                        return;
                    }
                    continue;
                }
                await owner.ApplyInOrderAsync(this, batch, token);
            }
        }

        // The commands whose turn it is, in place order, up to the batch size; a place not yet used or given up is
        // waited for, however long its command takes to get here.
        List<Pending> Take()
        {
            var batch = new List<Pending>();
            var limit = Math.Max(1, owner._options.BatchSize);
            lock (_gate)
            {
                while (batch.Count < limit && _again.Count > 0)
                {
                    var (sequence, pending) = _again.First();
                    _again.Remove(sequence);
                    if (!ParkIfHeld(pending)) batch.Add(pending);
                }
                while (batch.Count < limit && _waiting.Remove(_next, out var pending))
                {
                    _next++;
                    if (pending is not null && !ParkIfHeld(pending)) batch.Add(pending);
                }
            }
            return batch;
        }

        /// <summary>Parks the command if an earlier command of its document holds it.</summary>
        public bool ParkIfHeld(Pending pending)
        {
            lock (_gate)
            {
                if (!_holds.TryGetValue(pending.Ticket.DocumentKey, out var hold) || hold.By.Min >= pending.Sequence) return false;
                hold.Parked[pending.Sequence] = pending;
                return true;
            }
        }

        /// <summary>The command failed: its document is held until it is settled, and it is told why.</summary>
        public void Fail(Pending pending, Exception failure)
        {
            lock (_gate)
            {
                // A consumer that stopped waiting (its bus stopping) settled its delivery already, which comes again.
                if (!pending.Ticket.Settled)
                {
                    if (!_holds.TryGetValue(pending.Ticket.DocumentKey, out var hold))
                        _holds[pending.Ticket.DocumentKey] = hold = new Hold();
                    hold.By.Add(pending.Sequence);
                }
            }
            pending.Outcome.TrySetException(failure);
        }

        public void Applied(Pending pending, CommandOutcome outcome)
        {
            lock (_gate) Unhold(pending.Ticket);
            pending.Outcome.TrySetResult(outcome);
        }

        // Lets the document's parked commands go that no earlier failed command holds any more, ahead of later places.
        void Unhold(CommandTicket ticket)
        {
            if (!_holds.TryGetValue(ticket.DocumentKey, out var hold) || !hold.By.Remove(ticket.Sequence)) return;
            var released = hold.Parked.Where(p => hold.By.Count == 0 || p.Key < hold.By.Min).ToList();
            foreach (var (sequence, pending) in released)
            {
                hold.Parked.Remove(sequence);
                _again[sequence] = pending;
            }
            if (hold.By.Count == 0) _holds.Remove(ticket.DocumentKey);
            if (released.Count > 0) _signal.Release();
        }
    }
}
