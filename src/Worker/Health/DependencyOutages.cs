using System.Diagnostics.Metrics;
using Microsoft.Extensions.Options;
using Npgsql;
using Worker.Messaging;

namespace Worker.Health;

/// <summary>
/// The worker's two dependencies and whether each is away. While either is, the worker takes no new command
/// (<see cref="IntakePause"/>) and the commands in hand wait, holding their documents, until it is back: an outage is
/// not a command's failure (docs/guarantees.md). It is told in a few lines: one warning when a dependency goes, one
/// line after <see cref="HealthOptions.OutageReminder"/>, then at growing intervals, while it stays away, one when it
/// is back.
/// </summary>
public sealed class DependencyOutages
{
    readonly DatabaseProbe _probe;
    readonly NpgsqlDataSource _dataSource;
    readonly CommandsInHand _inHand;
    readonly HealthOptions _options;
    readonly ILogger<DependencyOutages> _logger;
    readonly Counter<long> _outages;
    readonly Lock _probing = new();
    Task<string?>? _probeInFlight;

    public DependencyOutages(DatabaseProbe probe, NpgsqlDataSource dataSource, CommandsInHand inHand, TimeProvider clock,
        IOptions<HealthOptions> options, IMeterFactory meters, ILogger<DependencyOutages> logger)
    {
        (_probe, _dataSource, _inHand, _options, _logger) = (probe, dataSource, inHand, options.Value, logger);
        Database = new DependencyOutage("PostgreSQL", "database", clock);
        Broker = new DependencyOutage("RabbitMQ", "broker", clock);
        var meter = meters.Create(Observability.WorkerMetrics.MeterName);
        _outages = meter.CreateCounter<long>("worker.outages",
            description: "Times a dependency went away (the worker paused until it was back), by dependency");
        meter.CreateObservableCounter("worker.paused", () => All.Select(o =>
                new Measurement<double>(o.AwayInAll().TotalSeconds, new KeyValuePair<string, object?>("dependency", o.Tag))),
            unit: "s", description: "Time the worker spent paused because a dependency was away, by dependency");
        meter.CreateObservableGauge("worker.dependency.away", () => All.Select(o =>
                new Measurement<int>(o.IsAway ? 1 : 0, new KeyValuePair<string, object?>("dependency", o.Tag))),
            description: "1 while the dependency is away and the worker paused for it, else 0");
        meter.CreateObservableGauge("worker.commands.held", () => Held,
            description: "Commands in hand while the worker is paused for a dependency: held, unacknowledged, until it is back");
    }

    public DependencyOutage Database { get; }
    public DependencyOutage Broker { get; }
    public IReadOnlyList<DependencyOutage> All => [Database, Broker];

    public bool AnyAway => Database.IsAway || Broker.IsAway;

    /// <summary>Commands in hand while a dependency is away; 0 otherwise.</summary>
    public int Held => AnyAway ? _inHand.Count : 0;

    /// <summary>Completes when no dependency is away.</summary>
    public async Task WaitUntilAllBackAsync(CancellationToken cancellationToken)
    {
        while (AnyAway)
        {
            await Database.WaitUntilBackAsync(cancellationToken);
            await Broker.WaitUntilBackAsync(cancellationToken);
        }
    }

    /// <summary>
    /// Whether a statement that just failed failed because the database is away: it is when it was known to be away,
    /// or when it does not answer a probe now. Nothing is judged by the failure's type: a database that answers means
    /// the failure belongs to the command (or was a passing fault its retries get past).
    /// </summary>
    public async Task<bool> DatabaseIsAwayAsync(CancellationToken cancellationToken)
    {
        if (Database.IsAway) return true;
        if (await ProbeDatabaseAsync(cancellationToken) is not { } why) return false;
        GoneAway(Database, why);
        return true;
    }

    /// <summary>One probe at a time, whoever asks: many commands failing at once ask once.</summary>
    public Task<string?> ProbeDatabaseAsync(CancellationToken cancellationToken)
    {
        lock (_probing)
        {
            if (_probeInFlight is { IsCompleted: false } running) return running.WaitAsync(cancellationToken);
            return _probeInFlight = _probe.AskAsync(_options.ProbeTimeout, CancellationToken.None).WaitAsync(cancellationToken);
        }
    }

    public void GoneAway(DependencyOutage outage, string why)
    {
        if (!outage.GoneAway(why)) return;
        _outages.Add(1, new KeyValuePair<string, object?>("dependency", outage.Tag));
        _logger.LogWarning("{Dependency} is away ({Reason}): the worker takes no new commands and holds the {InHand} in hand, " +
            "unanswered, until it is back", outage.Name, why, _inHand.Count);
    }

    public void Back(DependencyOutage outage)
    {
        var held = _inHand.Count;
        if (outage.Back() is not { } lasted) return;
        // Connections pooled before the outage are dead; each would fail one statement before the pool dropped it.
        if (outage == Database) _dataSource.Clear();
        _logger.LogInformation("{Dependency} is back after {Seconds:0} s: the worker takes commands again ({InHand} in hand)",
            outage.Name, lasted.TotalSeconds, held);
    }

    /// <summary>The line said while a dependency stays away.</summary>
    public void Remind(DependencyOutage outage) =>
        _logger.LogWarning("{Dependency} still away after {Seconds:0} s ({Reason}): the worker waits, holding {InHand} " +
            "commands, taking none", outage.Name, outage.AwayFor().TotalSeconds, outage.Reason, _inHand.Count);

    /// <summary>The readiness check's words for an outage.</summary>
    public static string Describe(DependencyOutage outage) =>
        $"{outage.Name} is away since {outage.AwaySince:O} ({outage.Reason}); the worker is paused until it is back";
}
