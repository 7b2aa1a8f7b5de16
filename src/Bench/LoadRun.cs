using System.Diagnostics;
using System.Text.Json;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace Bench;

/// <summary>What one pipeline achieved on one workload.</summary>
public sealed record RunMeasurement(string Pipeline, int Commands, int Results, int UnexpectedOutcomes, double Seconds,
    double Throughput, double P50Ms, double P95Ms, double P99Ms, double MaxMs, ProcessUsage? Usage,
    IReadOnlyList<(double Second, double PerSecond, double P99Ms)> Timeline)
{
    /// <summary>Commands sent with a reply address, and replies received there by the end of the run.</summary>
    public (int Asked, int Received) Replies { get; init; }
}

/// <summary>
/// Publishes a workload to a set of queues with publisher confirms, from several channels at once, either as fast as
/// the broker confirms or at a fixed rate, and waits for the result event of every command on the operations'
/// result exchanges. Latency runs from handing a command to the broker to receiving its result event.
/// </summary>
public sealed class LoadRun(IConnection connection, string[] resultExchanges, bool partitioned = false)
{
    /// <summary>
    /// The share of commands (0 to 1, spread evenly) sent with <c>reply_to</c> naming a queue of the bench's own, as a
    /// requester would: the worker answers those there as well. Latency is still measured on the result events.
    /// </summary>
    public double ReplyShare { get; init; }

    bool AsksForReply(int i) => ReplyShare > 0 && (int)(i * ReplyShare) != (int)((i + 1) * ReplyShare);

    /// <summary>
    /// One run's timestamps, by command index, allocated before the first publish. Nothing grows or takes a lock while
    /// the run is measured: a map shared by all runs used to hold every command of the session (a quarter of a
    /// million by the half-rate rounds), and its rehashing and its cost to the GC landed in the latencies measured.
    /// </summary>
    sealed class Marks
    {
        public Marks(IReadOnlyList<WorkloadCommand> commands)
        {
            Index = new Dictionary<string, int>(commands.Count);
            for (var i = 0; i < commands.Count; i++) Index[commands[i].CorrelationId] = i;
            ByCorrelationId = Index.GetAlternateLookup<ReadOnlySpan<char>>();
            PublishedAt = new long[commands.Count];
            AnsweredAt = new long[commands.Count];
            Succeeded = new bool[commands.Count];
        }

        public Dictionary<string, int> Index { get; }
        public Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> ByCorrelationId { get; }
        public long[] PublishedAt { get; }
        // 0 until the first answer arrives; a repeated answer keeps the first one's time.
        public long[] AnsweredAt { get; }
        public bool[] Succeeded { get; }
    }

    public async Task<RunMeasurement> RunAsync(string pipeline, IReadOnlyList<WorkloadCommand> commands,
        Func<string, string> queueOf, int concurrency, double rate, ProcessSampler? sampler, Action<int>? progress,
        TimeSpan timeout, CancellationToken cancellationToken)
    {
        var marks = new Marks(commands);
        await using var results = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        var queue = (await results.QueueDeclareAsync(cancellationToken: cancellationToken)).QueueName;
        foreach (var exchange in resultExchanges)
        {
            await results.ExchangeDeclareAsync(exchange, ExchangeType.Fanout, durable: true, cancellationToken: cancellationToken);
            await results.QueueBindAsync(queue, exchange, "", cancellationToken: cancellationToken);
        }
        var received = 0;
        var allIn = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var consumer = new AsyncEventingBasicConsumer(results);
        consumer.ReceivedAsync += (_, delivery) =>
        {
            var at = Stopwatch.GetTimestamp();
            // Deliveries of one channel come one at a time, so the first answer to a command is recorded once.
            if (IndexOf(delivery.Body.Span, marks) is { } i && marks.AnsweredAt[i] == 0)
            {
                marks.Succeeded[i] = delivery.Exchange.EndsWith("updated");
                Volatile.Write(ref marks.AnsweredAt[i], at);
                if (Interlocked.Increment(ref received) == commands.Count) allIn.TrySetResult();
            }
            return Task.CompletedTask;
        };
        await results.BasicConsumeAsync(queue, autoAck: true, consumer, cancellationToken);
        var replies = 0;
        string? replyQueue = null;
        if (ReplyShare > 0)
        {
            replyQueue = (await results.QueueDeclareAsync(cancellationToken: cancellationToken)).QueueName;
            var replyConsumer = new AsyncEventingBasicConsumer(results);
            replyConsumer.ReceivedAsync += (_, _) =>
            {
                Interlocked.Increment(ref replies);
                return Task.CompletedTask;
            };
            await results.BasicConsumeAsync(replyQueue, autoAck: true, replyConsumer, cancellationToken);
        }

        sampler?.Start();
        var start = Stopwatch.GetTimestamp();
        var publishing = PublishAsync(commands, marks, queueOf, concurrency, rate, replyQueue, cancellationToken);
        using (var ticker = new PeriodicTimer(TimeSpan.FromMilliseconds(200)))
        {
            var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
            while (!allIn.Task.IsCompleted && Stopwatch.GetTimestamp() < deadline)
            {
                if (publishing.IsFaulted) await publishing;
                progress?.Invoke(Volatile.Read(ref received));
                await Task.WhenAny(allIn.Task, ticker.WaitForNextTickAsync(cancellationToken).AsTask());
            }
        }
        await publishing;
        progress?.Invoke(Volatile.Read(ref received));
        var usage = sampler?.Stop();
        var asked = Enumerable.Range(0, commands.Count).Count(AsksForReply);
        // A reply is sent beside its result event, so it may trail the last event by a moment.
        for (var wait = 0; wait < 50 && Volatile.Read(ref replies) < asked; wait++) await Task.Delay(20, cancellationToken);

        var latencies = new List<double>(commands.Count);
        var unexpected = 0;
        long last = start;
        for (var i = 0; i < commands.Count; i++)
        {
            var answeredAt = Volatile.Read(ref marks.AnsweredAt[i]);
            if (answeredAt == 0) continue;
            if (marks.Succeeded[i] != commands[i].ShouldSucceed) unexpected++;
            latencies.Add(Milliseconds(marks.PublishedAt[i], answeredAt));
            last = Math.Max(last, answeredAt);
        }
        latencies.Sort();
        var seconds = Milliseconds(start, last) / 1000;
        return new RunMeasurement(pipeline, commands.Count, latencies.Count, unexpected, seconds,
            latencies.Count / Math.Max(seconds, 1e-9), Percentile(latencies, 0.50), Percentile(latencies, 0.95),
            Percentile(latencies, 0.99), latencies.Count == 0 ? double.NaN : latencies[^1], usage,
            Timeline(marks, start)) { Replies = (asked, Volatile.Read(ref replies)) };
    }

    async Task PublishAsync(IReadOnlyList<WorkloadCommand> commands, Marks marks, Func<string, string> queueOf,
        int concurrency, double rate, string? replyQueue, CancellationToken cancellationToken)
    {
        var start = Stopwatch.GetTimestamp();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            var options = new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);
            await using var channel = await connection.CreateChannelAsync(options, cancellationToken);
            // Several publishes in flight per channel: the broker confirms them in batches.
            var inFlight = new Queue<Task>();
            int i;
            while ((i = Interlocked.Increment(ref next)) < commands.Count)
            {
                if (rate > 0)
                {
                    var due = start + (long)(i / rate * Stopwatch.Frequency);
                    var wait = due - Stopwatch.GetTimestamp();
                    if (wait > 0) await Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency), cancellationToken);
                }
                var command = commands[i];
                var properties = new BasicProperties
                {
                    ContentType = "application/json", MessageId = command.MessageId.ToString(),
                    CorrelationId = command.CorrelationId, DeliveryMode = DeliveryModes.Persistent,
                    ReplyTo = AsksForReply(i) ? replyQueue : null,
                };
                marks.PublishedAt[i] = Stopwatch.GetTimestamp();
                var queue = queueOf(command.Queue);
                // The worker's own queues, through their partitioned exchanges as a scaled-out deployment's publishers send.
                var (exchange, routingKey) = partitioned && queue == command.Queue
                    ? (Worker.Messaging.CommandPartitions.ExchangeOf(queue), command.DocumentKey)
                    : ("", queue);
                inFlight.Enqueue(channel.BasicPublishAsync(exchange, routingKey, true, properties, command.Body,
                    cancellationToken).AsTask());
                if (inFlight.Count >= 64) await inFlight.Dequeue();
            }
            await Task.WhenAll(inFlight);
        }));
    }

    // Results per second and their p99 latency, in half-second steps from the first publish.
    static List<(double, double, double)> Timeline(Marks marks, long start)
    {
        const double step = 0.5;
        var buckets = new SortedDictionary<int, List<double>>();
        for (var i = 0; i < marks.AnsweredAt.Length; i++)
        {
            var answeredAt = marks.AnsweredAt[i];
            if (answeredAt == 0) continue;
            var bucket = (int)(Milliseconds(start, answeredAt) / 1000 / step);
            if (!buckets.TryGetValue(bucket, out var list)) buckets[bucket] = list = [];
            list.Add(Milliseconds(marks.PublishedAt[i], answeredAt));
        }
        return buckets.Select(b =>
        {
            b.Value.Sort();
            return ((b.Key + 1) * step, b.Value.Count / step, Percentile(b.Value, 0.99));
        }).ToList();
    }

    // The index of the command a result event answers, read from its top-level correlationId without allocating.
    static int? IndexOf(ReadOnlySpan<byte> body, Marks marks)
    {
        var reader = new Utf8JsonReader(body);
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1
                && reader.ValueTextEquals("correlationId"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.String || reader.ValueIsEscaped || reader.ValueSpan.Length > 256) return null;
                Span<char> id = stackalloc char[reader.ValueSpan.Length];
                var length = System.Text.Encoding.UTF8.GetChars(reader.ValueSpan, id);
                return marks.ByCorrelationId.TryGetValue(id[..length], out var i) ? i : null;
            }
            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray && reader.CurrentDepth >= 1) reader.Skip();
        }
        return null;
    }

    static double Milliseconds(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;

    static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];
}
