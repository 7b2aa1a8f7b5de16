using System.Diagnostics.Metrics;

namespace Worker.Observability;

/// <summary>
/// The worker's own meter. Prometheus sees <c>worker_commands_total</c>, <c>worker_duplicates_total</c>,
/// <c>worker_command_duration_seconds</c> and <c>worker_batch_commands</c> (the exporter adds the unit and
/// <c>_total</c> suffixes).
/// </summary>
public sealed class WorkerMetrics : IDisposable
{
    public const string MeterName = "Worker";

    readonly Meter _meter;
    readonly Counter<long> _commands;
    readonly Counter<long> _duplicates;
    readonly Histogram<double> _duration;
    readonly Histogram<long> _batch;

    public WorkerMetrics(IMeterFactory meters)
    {
        _meter = meters.Create(MeterName);
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

    /// <summary>A transaction committed with this many commands.</summary>
    public void Batch(int commands) => _batch.Record(commands);

    public void Dispose() => _meter.Dispose();
}
