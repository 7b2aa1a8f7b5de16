using System.Diagnostics.Metrics;

namespace Worker.Observability;

/// <summary>
/// The worker's own meter. Prometheus sees <c>worker_commands_total</c>, <c>worker_duplicates_total</c>,
/// <c>worker_command_duration_seconds</c>, <c>worker_batch_commands</c>, <c>worker_commands_set_aside_total</c>,
/// <c>worker_inbox_maintenance_failures_total</c>, <c>worker_fresh_starts_total</c> and
/// <c>worker_document_hold_oldest_seconds</c> (the exporter adds the unit and <c>_total</c> suffixes). The alert rules
/// in deploy/prometheus/alerts.yml are written on them.
/// </summary>
public sealed class WorkerMetrics : IDisposable
{
    public const string MeterName = "Worker";

    readonly Meter _meter;
    readonly Counter<long> _commands;
    readonly Counter<long> _duplicates;
    readonly Histogram<double> _duration;
    readonly Histogram<long> _batch;
    readonly Counter<long> _setAside;
    readonly Counter<long> _inboxMaintenanceFailures;

    public WorkerMetrics(IMeterFactory meters, Startup.RestartingHost restarts)
    {
        _meter = meters.Create(MeterName);
        _setAside = _meter.CreateCounter<long>("worker.commands.set_aside",
            description: "Commands moved to the error queue (failed for good) or the skipped queue (not taken), by queue");
        _inboxMaintenanceFailures = _meter.CreateCounter<long>("worker.inbox.maintenance.failures",
            description: "Runs of the inbox maintenance (dropping expired days, making the coming ones) that failed while the database answered");
        // Read from the process's RestartingHost, which outlives each host and its meter: the count never goes back.
        _meter.CreateObservableCounter("worker.fresh_starts", () => restarts.FreshStarts,
            description: "Times the worker started afresh in-process because a command was stuck");
        _commands = _meter.CreateCounter<long>("worker.commands",
            description: "Commands answered with a result event, by queue, outcome and the HTTP status in the event");
        _duplicates = _meter.CreateCounter<long>("worker.duplicates",
            description: "Commands answered from the inbox: copies of a message id already processed");
        _duration = _meter.CreateHistogram<double>("worker.command.duration", unit: "s",
            description: "From the delivery of a command to its result event being published",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });
        _batch = _meter.CreateHistogram<long>("worker.batch.commands",
            description: "Commands applied in one database transaction",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 2, 5, 10, 20, 50, 100, 200, 500] });
    }

    /// <summary>A command answered: counted, and timed from its delivery.</summary>
    public void Answered(string queue, bool succeeded, int status, TimeSpan sinceDelivery, bool duplicate)
    {
        var queueTag = new KeyValuePair<string, object?>("queue", queue);
        _commands.Add(1, queueTag, new("outcome", succeeded ? "succeeded" : "failed"), new("status", status));
        _duration.Record(sinceDelivery.TotalSeconds, queueTag);
        if (duplicate) _duplicates.Add(1, queueTag);
    }

    /// <summary>A command moved to its queue's error queue (<c>error</c>) or skipped queue (<c>skipped</c>).</summary>
    public void SetAside(string queue, string to) => _setAside.Add(1, new("queue", queue), new("to", to));

    public void InboxMaintenanceFailed() => _inboxMaintenanceFailures.Add(1);

    /// <summary>The age of the oldest hold a failed command has on its document, observed at each collection.</summary>
    public void ObserveOldestHold(Func<double> seconds) =>
        _meter.CreateObservableGauge("worker.document.hold.oldest", seconds, unit: "s",
            description: "How long the longest-held document has been held by a failed command under retry (0 when none is)");

    /// <summary>A transaction committed with this many commands.</summary>
    public void Batch(int commands) => _batch.Record(commands);

    public void Dispose() => _meter.Dispose();
}
