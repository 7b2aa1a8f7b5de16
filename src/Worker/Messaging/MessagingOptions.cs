using System.ComponentModel.DataAnnotations;

namespace Worker.Messaging;

public sealed class MessagingOptions
{
    public const string Section = "Messaging";

    /// <summary>
    /// How many unacknowledged commands the broker hands one worker at a time, per queue. 128 rather than 64: with more
    /// commands in hand, a lane's batches are larger under load, and the worker, the broker and the database each spend
    /// less per command (measured side by side, docs/performance.md); the memory a worker may hold grows with it
    /// (docs/security.md, "Memory budget").
    /// </summary>
    [Range(1, ushort.MaxValue)]
    public ushort PrefetchCount { get; set; } = 128;

    /// <summary>Larger messages are refused with the API's 400 before any work is done.</summary>
    [Range(1024, 128 * 1024 * 1024)]
    public int MaxMessageBytes { get; set; } = 256 * 1024;

    /// <summary>
    /// The worker starts afresh when it has held one command this long: longer than any retry and
    /// backoff takes, so the command is stuck, and a fresh start has the broker deliver it again.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "3650.00:00:00")]
    public TimeSpan StuckCommandAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Fresh starts in-process allowed within <see cref="FreshStartWindow"/>; one more exits the process with
    /// StuckCommandWatchdog.ExitCode for its supervisor to start it again.
    /// </summary>
    [Range(0, 1000)]
    public int FreshStartsInProcess { get; set; } = 3;

    [Range(typeof(TimeSpan), "00:00:00.001", "3650.00:00:00")]

    public TimeSpan FreshStartWindow { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Retries of a command that failed unexpectedly (a database outage, a dropped connection).</summary>
    [Range(0, 100)]
    public int RetryLimit { get; set; } = 8;

    [Range(typeof(TimeSpan), "00:00:00.001", "3650.00:00:00")]

    public TimeSpan RetryMinInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    [Range(typeof(TimeSpan), "00:00:00.001", "3650.00:00:00")]

    public TimeSpan RetryMaxInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Partition queues per operation behind its consistent-hash exchange <c>&lt;queue&gt;.partitioned</c>. Each is
    /// consumed by one worker instance at a time (single active consumer), so the commands for one document, which
    /// the exchange always routes to the same partition, are applied in publish order however many instances run.
    /// 0 consumes only the operation queues: for a broker without the consistent-hash exchange plugin.
    /// </summary>
    [Range(0, 256)]
    public int Partitions { get; set; } = 4;

    /// <summary>
    /// The command queues' type. <c>Classic</c> suits a single broker node; <c>Quorum</c> replicates every queue
    /// across a cluster, so that losing a node loses nothing. It is fixed when a queue is first declared.
    /// </summary>
    public CommandQueueType QueueType { get; set; } = CommandQueueType.Classic;

    /// <summary>
    /// Quorum queues only: the broker's own guard against a poison message, beside the worker's retries. A command
    /// delivered this many times (each crash of a worker holding it counts) goes to its error queue.
    /// </summary>
    [Range(2, 1000)]
    public int DeliveryLimit { get; set; } = 20;

    /// <summary>
    /// How often an instance compares the partitions it is busy on with its share, and how long a partition counts
    /// as busy after its last command. See PartitionBalancer.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "1.00:00:00")]
    public TimeSpan RebalanceInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The AMQP heartbeat asked of the broker (which takes the lower of its own and this). A connection that carries
    /// nothing for about three of these (a network that drops packets, a broker that hangs) is given up, so a silent
    /// broker is noticed within about 15 to 20 s rather than by the operating system's TCP timeouts, which take
    /// minutes. RabbitMQ recommends 5 to 20 s; 0 turns heartbeats off.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan Heartbeat { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long opening a connection to the broker may take before the attempt is given up and made again.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan ConnectionTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Further RabbitMQ cluster nodes (<c>host:port</c>, comma-separated) beside the host of ConnectionStrings:RabbitMq;
    /// the worker connects to any that answers and reconnects to a surviving one.
    /// </summary>
    public string? ClusterNodes { get; set; }
}

public enum CommandQueueType
{
    Classic,
    Quorum,
}
