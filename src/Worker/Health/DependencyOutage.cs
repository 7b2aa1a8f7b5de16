namespace Worker.Health;

/// <summary>
/// Whether one dependency (the database or the broker) is away, since when, and for how long it has been away in all.
/// Marked away by whoever notices first (<see cref="OutageWatch"/>'s probe, a command whose statement failed while it
/// does not answer), and back by <see cref="OutageWatch"/> only, once it answers again. Commands in hand wait on
/// <see cref="WaitUntilBackAsync"/>; nothing here is a timer that decides anything.
/// </summary>
public sealed class DependencyOutage(string name, string tag, TimeProvider clock)
{
    readonly Lock _gate = new();
    TaskCompletionSource _back = Completed();
    DateTimeOffset? _awaySince;
    // Read for every delivery (IntakePause): without taking the lock.
    volatile bool _away;
    TimeSpan _endedOutages;

    /// <summary>How operators call it: PostgreSQL, RabbitMQ.</summary>
    public string Name { get; } = name;

    /// <summary>The metrics' label value: database, broker.</summary>
    public string Tag { get; } = tag;

    public bool IsAway => _away;

    public DateTimeOffset? AwaySince { get { lock (_gate) return _awaySince; } }

    /// <summary>Why it was marked away, in the words of the failure that told.</summary>
    public string? Reason { get; private set; }

    /// <summary>When the last outage ended; commands held through it count as in hand from then on.</summary>
    public DateTimeOffset? BackAt { get; private set; }

    /// <summary>Marks it away; true when it was up until now (the caller then says so, once).</summary>
    public bool GoneAway(string reason)
    {
        lock (_gate)
        {
            if (_awaySince is not null) return false;
            _awaySince = clock.GetUtcNow();
            _away = true;
            Reason = reason;
            _back = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return true;
        }
    }

    /// <summary>Marks it back and lets every waiter go; the outage's length, or null when it was not away.</summary>
    public TimeSpan? Back()
    {
        TaskCompletionSource back;
        TimeSpan lasted;
        lock (_gate)
        {
            if (_awaySince is not { } since) return null;
            var now = clock.GetUtcNow();
            lasted = now - since;
            _endedOutages += lasted;
            (_awaySince, BackAt, back) = (null, now, _back);
            _away = false;
        }
        back.TrySetResult();
        return lasted;
    }

    /// <summary>Completes at once while it is up, else when it is back.</summary>
    public Task WaitUntilBackAsync(CancellationToken cancellationToken)
    {
        Task back;
        lock (_gate) back = _back.Task;
        return back.IsCompleted ? Task.CompletedTask : back.WaitAsync(cancellationToken);
    }

    /// <summary>How long it has been away, for the current outage; zero while it is up.</summary>
    public TimeSpan AwayFor()
    {
        lock (_gate) return _awaySince is { } since ? clock.GetUtcNow() - since : TimeSpan.Zero;
    }

    /// <summary>Every outage's length since the process started, the current one included.</summary>
    public TimeSpan AwayInAll()
    {
        lock (_gate) return _endedOutages + (_awaySince is { } since ? clock.GetUtcNow() - since : TimeSpan.Zero);
    }

    static TaskCompletionSource Completed()
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        done.SetResult();
        return done;
    }
}
