using Hosting;
using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using System.CommandLine;
using Contracts.CustomerPromotionLists;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;
using RabbitMQ.Client;
using Spectre.Console;
using Worker.CustomerPromotionLists;
using Worker.DemoData;
using Worker.LeadSegments;
using Worker.MarketingPermissions;
using Worker.Messaging;
using Worker.Storage;

namespace Bench;

/// <summary>
/// The bench: measures the running worker on a realistic mix of commands, and in the same run, on the same broker
/// and database, the two comparison points (<see cref="LimitPipeline"/> and <see cref="BaselinePipeline"/>).
/// </summary>
public static class BenchCommand
{
    static readonly string[] ResultExchanges =
    [
        LeadSegmentUpdated.Exchange, LeadSegmentUpdateFailed.Exchange,
        MarketingPermissionsUpdated.Exchange, MarketingPermissionsUpdateFailed.Exchange,
        CustomerPromotionListUpdated.Exchange, CustomerPromotionListUpdateFailed.Exchange,
    ];

    public static RootCommand Build()
    {
        var count = new Option<int>("--count") { Description = "Commands per run", DefaultValueFactory = _ => 20_000 };
        var rate = new Option<double>("--rate") { Description = "Commands per second to publish at; 0 publishes as fast as the broker confirms", DefaultValueFactory = _ => 0 };
        var mix = new Option<string>("--mix") { Description = "Shares of lead-segment, marketing-permissions and promotion-list commands", DefaultValueFactory = _ => "40,30,30" };
        var concurrency = new Option<int>("--concurrency") { Description = "Publishing channels", DefaultValueFactory = _ => 4 };
        var documents = new Option<int>("--documents") { Description = "Documents of each kind the commands spread over", DefaultValueFactory = _ => 1000 };
        var pipelines = new Option<string>("--pipelines") { Description = "Which of worker, limit, baseline to measure", DefaultValueFactory = _ => "worker,limit,baseline" };
        var halfRate = new Option<bool>("--half-rate") { Description = "Also measure the worker's latency at half its measured throughput", DefaultValueFactory = _ => true };
        var smoke = new Option<bool>("--smoke") { Description = "A short run that only checks that everything works (300 commands per run, no warm-up)" };
        var warmup = new Option<int>("--warmup") { Description = "Commands per warm-up round; rounds go on until the pipeline's JIT has been idle for three rounds", DefaultValueFactory = _ => 10_000 };
        var rounds = new Option<int>("--rounds") { Description = "Times each pipeline is measured, in turns; each is reported by its median round", DefaultValueFactory = _ => 3 };
        var warmupLimit = new Option<int>("--warmup-seconds") { Description = "Longest warm-up per pipeline, in seconds", DefaultValueFactory = _ => 90 };
        var output = new Option<string>("--output") { Description = "Folder for the JSON summary and the plot", DefaultValueFactory = _ => "bench-results" };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for the results of one run", DefaultValueFactory = _ => 300 };
        var workerPid = new Option<int?>("--worker-pid") { Description = "The worker's process id, for its memory and CPU (default: found by name)" };
        var rabbitMq = new Option<string>("--rabbitmq")
        {
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("ConnectionStrings__RabbitMq") ?? BrokerConnection.DefaultConnectionString,
        };
        var postgres = new Option<string>("--postgres")
        {
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("ConnectionStrings__Postgres") ?? StorageSetup.DefaultConnectionString,
        };
        var untracedRabbitMq = new Option<string?>("--untraced-rabbitmq") { Description = "The broker (its own virtual host) of a second worker running with metrics and tracing off; with it, the bench measures what they cost" };
        var untracedPostgres = new Option<string?>("--untraced-postgres") { Description = "That second worker's database" };
        var untracedPid = new Option<int?>("--untraced-worker-pid") { Description = "That second worker's process id" };
        var untracedLabel = new Option<string>("--untraced-label") { Description = "What the second worker's runs are called (another build, in an A/B comparison)", DefaultValueFactory = _ => "worker untraced" };
        var sizes = new Option<string?>("--sizes") { Description = "Data sizes to measure in turn, as documents of each kind (e.g. 1000,100000,1000000); replaces --documents" };
        var inboxEntries = new Option<long>("--inbox-entries") { Description = "With --sizes: inbox entries to add over the retention window after the largest size, which is then measured again, with the purge of one day's entries while the worker serves" };
        var history = new Option<int>("--history") { Description = "Also measure commands on an account whose consent history holds this many events, beside the same on a new account" };
        var brokerPid = new Option<int?>("--broker-pid") { Description = "The broker's process id, for its CPU per command beside each pipeline's" };
        var databasePid = new Option<int?>("--database-pid") { Description = "The database server's main process id (PostgreSQL's postmaster), for its CPU per command, its backends included" };
        var perf = new Option<string?>("--perf") { Description = "Folder to record a system-wide CPU profile of every measured run into, with Linux perf (see scripts/profile.sh)" };
        var replyShare = new Option<double>("--reply-share") { Description = "Also measure the worker with this share of its commands (0 to 1) sent with reply_to, right after each of its rounds", DefaultValueFactory = _ => 0 };
        var partitioned = new Option<bool>("--partitioned") { Description = "Publish the worker's commands through each operation's partitioned exchange, keyed by document, as for several instances" };
        var command = new RootCommand("Measures the running worker beside the raw limit and a plain MassTransit baseline")
        {
            count, rate, mix, concurrency, documents, pipelines, halfRate, smoke, warmup, warmupLimit, rounds, output, timeout, workerPid, rabbitMq, postgres,
            untracedRabbitMq, untracedPostgres, untracedPid, untracedLabel, partitioned, sizes, inboxEntries, history, brokerPid, databasePid, perf,
            replyShare,
        };
        command.Subcommands.Add(HostCommand());
        command.Subcommands.Add(ProfileReport.Command());
        command.SetAction((parse, cancellationToken) =>
        {
            var shares = parse.GetValue(mix)!.Split(',').Select(int.Parse).ToArray();
            var settings = new BenchSettings(
                parse.GetValue(smoke) ? Math.Min(300, parse.GetValue(count)) : parse.GetValue(count), parse.GetValue(rate),
                (shares[0], shares[1], shares[2]), parse.GetValue(concurrency), parse.GetValue(documents),
                parse.GetValue(pipelines)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries),
                parse.GetValue(halfRate), parse.GetValue(output)!, TimeSpan.FromSeconds(parse.GetValue(timeout)),
                parse.GetValue(workerPid), parse.GetValue(rabbitMq)!, parse.GetValue(postgres)!,
                parse.GetValue(smoke) ? 0 : parse.GetValue(warmup), TimeSpan.FromSeconds(parse.GetValue(warmupLimit)),
                parse.GetValue(smoke) ? 1 : Math.Max(1, parse.GetValue(rounds)),
                parse.GetValue(untracedRabbitMq) is { } untracedBroker && parse.GetValue(untracedPostgres) is { } untracedDatabase
                    ? new UntracedWorker(untracedBroker, untracedDatabase, parse.GetValue(untracedPid), parse.GetValue(untracedLabel)!) : null,
                parse.GetValue(partitioned),
                parse.GetValue(sizes) is { } given ? given.Split(',').Select(int.Parse).ToArray() : [parse.GetValue(documents)],
                parse.GetValue(inboxEntries), parse.GetValue(history), parse.GetValue(perf), Math.Clamp(parse.GetValue(replyShare), 0, 1));
            ProcessSampler.Neighbours = new Neighbours(parse.GetValue(brokerPid), parse.GetValue(databasePid));
            return RunAsync(settings, cancellationToken);
        });
        return command;
    }

    /// <summary>
    /// <c>host limit|baseline</c>: runs one comparison pipeline in this process until standard input closes
    /// (<see cref="PipelineProcess"/>).
    /// </summary>
    static Command HostCommand()
    {
        var pipeline = new Argument<string>("pipeline") { Description = "limit or baseline" };
        var rabbitMq = new Option<string>("--rabbitmq") { Required = true };
        var postgres = new Option<string>("--postgres") { Required = true };
        var prefix = new Option<string>("--prefix") { Required = true };
        var prefetch = new Option<ushort>("--prefetch") { DefaultValueFactory = _ => 64 };
        var batchSize = new Option<int>("--batch-size") { DefaultValueFactory = _ => 100 };
        var host = new Command("host", "Runs the limit or the baseline pipeline for a bench in another process") { pipeline, rabbitMq, postgres, prefix, prefetch, batchSize };
        host.Hidden = true;
        host.SetAction(async (parse, cancellationToken) =>
        {
            var (broker, database, queuePrefix) = (parse.GetValue(rabbitMq)!, parse.GetValue(postgres)!, parse.GetValue(prefix)!);
            switch (parse.GetValue(pipeline))
            {
                case "limit":
                {
                    await using var connection = await new ConnectionFactory { Uri = new Uri(broker) }.CreateConnectionAsync(cancellationToken);
                    // Npgsql tuned as the worker tunes it: statements prepared once per connection, no reset on return.
                    var tuned = new NpgsqlConnectionStringBuilder(database) { MaxAutoPrepare = 64, NoResetOnClose = true };
                    await using var dataSource = NpgsqlDataSource.Create(tuned.ConnectionString);
                    await using (await LimitPipeline.StartAsync(connection, dataSource, queuePrefix, parse.GetValue(prefetch),
                        parse.GetValue(batchSize), cancellationToken))
                    {
                        await PipelineProcess.ServeUntilReleasedAsync();
                    }
                    return 0;
                }
                case "baseline":
                {
                    // A Marten session and transaction per command, as many at once as MassTransit's default concurrency
                    // allows, and Npgsql's defaults (no prepared statements, connections reset when handed back), as a
                    // first version would have.
                    var npgsqlDefaults = database.TrimEnd(';') + ";Max Auto Prepare=0;No Reset On Close=false";
                    await using (await BaselinePipeline.StartAsync(WorkerServices(npgsqlDefaults, batchSize: 1, lanes: 32),
                        broker, queuePrefix, cancellationToken))
                    {
                        await PipelineProcess.ServeUntilReleasedAsync();
                    }
                    return 0;
                }
                default:
                    Console.Error.WriteLine($"bench host: no pipeline named {parse.GetValue(pipeline)}");
                    return 2;
            }
        });
        return host;
    }

    sealed record BenchSettings(int Count, double Rate, (int, int, int) Mix, int Concurrency, int Documents,
        string[] Pipelines, bool HalfRate, string Output, TimeSpan Timeout, int? WorkerPid, string RabbitMq, string Postgres,
        int Warmup, TimeSpan WarmupLimit, int Rounds, UntracedWorker? Untraced, bool Partitioned, int[] Sizes,
        long InboxEntries, int History, string? Perf, double ReplyShare);

    /// <summary>The figures of one data size: the pipelines' median rounds and what the database held.</summary>
    sealed record Stage(string Label, int Documents, RunMeasurement? Worker, RunMeasurement? Limit, RunMeasurement? Baseline,
        RunMeasurement? HalfRate, RunMeasurement? LimitHalfRate, StorageFigures Storage, double[] OfLimitByRound,
        double? WalBytesPerCommand);

    /// <summary>A second worker, the same build with metrics and tracing off, on its own virtual host and database.</summary>
    sealed record UntracedWorker(string RabbitMq, string Postgres, int? Pid, string Label);

    /// <summary>Where a pipeline's commands go and its documents live.</summary>
    sealed record Target(LoadRun Load, string Postgres);

    static async Task<int> RunAsync(BenchSettings settings, CancellationToken cancellationToken)
    {
        var workload = new BenchWorkload(settings.Sizes[0], settings.Mix);
        var seed = workload.SeedFile();
        // The worker's settings as the worker reads them (Storage__Lanes=8, say), so that the limit batches alike.
        var environment = new ConfigurationBuilder().AddEnvironmentVariables().Build();
        var storage = environment.GetSection(StorageOptions.Section).Get<StorageOptions>() ?? new StorageOptions();
        var prefetch = (environment.GetSection(MessagingOptions.Section).Get<MessagingOptions>() ?? new MessagingOptions()).PrefetchCount;
        await using var connection = await new ConnectionFactory { Uri = new Uri(settings.RabbitMq) }.CreateConnectionAsync(cancellationToken);
        var load = new LoadRun(connection, ResultExchanges, settings.Partitioned);
        var runs = new List<RunMeasurement>();
        RunMeasurement? worker = null, limit = null, baseline = null, halfRate = null, limitHalfRate = null;
        var runId = DateTime.UtcNow.ToString("HHmmss");
        var warmedUp = new Dictionary<string, int>();

        var main = new Target(load, settings.Postgres);
        await using var setup = NpgsqlDataSource.Create(settings.Postgres);
        var data = new DataSize(setup);
        // WAL written per command, by run (the whole server's, so with nothing else running on it).
        var walPerCommand = new Dictionary<string, double>();
        await using var untracedConnection = settings.Untraced is { } untraced
            ? await new ConnectionFactory { Uri = new Uri(untraced.RabbitMq) }.CreateConnectionAsync(cancellationToken) : null;
        var untracedTarget = untracedConnection is null ? null
            : new Target(new LoadRun(untracedConnection, ResultExchanges, settings.Partitioned), settings.Untraced!.Postgres);
        // The same worker, with a share of its commands asking for a reply.
        var replying = settings.ReplyShare > 0
            ? new Target(new LoadRun(connection, ResultExchanges, settings.Partitioned) { ReplyShare = settings.ReplyShare }, settings.Postgres)
            : null;
        var replyingName = $"worker {settings.ReplyShare:P0} reply_to";

        async Task<RunMeasurement> Measure(string pipeline, string prefix, double rate, ProcessSampler? sampler,
            bool warmUp, string? warmUpAs = null, Target? target = null, TaskCompletionSource? publishing = null)
        {
            target ??= main;
            if (warmUp && settings.Warmup > 0)
            {
                // The warm-up runs on the documents the measured run starts from. Before, it ran on whatever the
                // database held: at the first round, documents the workload does not name, so every command failed with
                // 404, and the paths that store documents and append events were compiled during the measured run
                // (a profile showed the runtime's JIT at a third of a core over its first six seconds).
                await PutBackAsync(target.Postgres);
                warmUpAs ??= pipeline;
                // The bench's own publisher and result consumer are compiled while the first pipeline warms up, too.
                int[] processes = sampler is null ? [Environment.ProcessId] : [sampler.ProcessId, Environment.ProcessId];
                warmedUp[warmUpAs] = await WarmUpAsync(warmUpAs, prefix, rate, processes.Distinct().ToArray(), target.Load);
            }
            // Every pipeline starts from the same documents, and with the planner statistics that autovacuum keeps in
            // a database that has been running for a while. Without them, a statement prepared while the inbox was still
            // nearly empty keeps a sequential-scan plan until autovacuum first analyzes it (up to a minute later): that
            // was why the worker's first measured round used to be its slowest.
            await PutBackAsync(target.Postgres);
            var commands = workload.Commands(settings.Count, $"{runId}-{pipeline}");
            RunMeasurement? measured = null;
            var walBefore = await data.WalBytesAsync(cancellationToken);
            publishing?.TrySetResult();
            var profile = settings.Perf is { } folder ? PerfRecording.Start(folder, pipeline) : null;
            await AnsiConsole.Progress().AutoClear(false).StartAsync(async progress =>
            {
                var task = progress.AddTask($"{pipeline,-18}", maxValue: commands.Count);
                measured = await target.Load.RunAsync(pipeline, commands, queue => prefix + queue, settings.Concurrency, rate,
                    sampler, received => task.Value = received, settings.Timeout, cancellationToken);
            });
            if (profile is not null) await profile.StopAsync(measured!, sampler?.ProcessId ?? Environment.ProcessId, cancellationToken);
            walPerCommand[pipeline] = (await data.WalBytesAsync(cancellationToken) - walBefore) / (double)commands.Count;
            runs.Add(measured!);
            return measured!;
        }

        async Task PutBackAsync(string postgres)
        {
            await using var services = WorkerServices(postgres, storage.BatchSize, storage.Lanes).BuildServiceProvider();
            await services.GetRequiredService<DemoDataImport>().ImportAsync(seed, overwrite: true, cancellationToken);
            await using var analyze = services.GetRequiredService<NpgsqlDataSource>().CreateCommand("analyze");
            await analyze.ExecuteNonQueryAsync(cancellationToken);
        }

        // Steady state is what counts. A fresh .NET process first runs unoptimised code and recompiles what is hot in
        // the background; with MassTransit's many generic types that goes on for tens of thousands of commands, and
        // it may start only after a quiet first round (the runtime waits while new methods keep appearing). So every
        // pipeline is warmed up in rounds until its process's JIT thread has been all but idle (under 3% of a core)
        // for three rounds in a row, as it is in a worker that has run for a while. That goes for the bench's own process
        // as well: while it is still being compiled, it competes with the pipeline for the CPUs.
        async Task<int> WarmUpAsync(string pipeline, string prefix, double rate, int[] processIds, LoadRun load)
        {
            const int quietRoundsNeeded = 3;
            var started = Stopwatch.GetTimestamp();
            var (commands, quietRounds) = (0, 0);
            for (var round = 1; ; round++)
            {
                var jitBefore = JitCpuTicks(processIds);
                var roundStarted = Stopwatch.GetTimestamp();
                await load.RunAsync($"{pipeline} warm-up {round}",
                    workload.Commands(settings.Warmup, $"{runId}-{pipeline}-warmup{round}"), queue => prefix + queue,
                    settings.Concurrency, rate, null, null, settings.Timeout, cancellationToken);
                commands += settings.Warmup;
                var jitShare = (JitCpuTicks(processIds) - jitBefore) / 100.0
                    / Stopwatch.GetElapsedTime(roundStarted).TotalSeconds;
                // The runtime ends its tiered-compilation thread when idle and starts a new one later, so a round can
                // end with fewer JIT ticks than it began with: that round's JIT work is unknown, not nil.
                quietRounds = jitShare is >= 0 and < 0.03 ? quietRounds + 1 : 0;
                if (quietRounds == quietRoundsNeeded || jitShare is null || Stopwatch.GetElapsedTime(started) > settings.WarmupLimit)
                {
                    Console.WriteLine($"{pipeline} warmed up with {commands} commands in {Stopwatch.GetElapsedTime(started).TotalSeconds:F0} s" +
                        (jitShare is { } share ? $" (JIT {share:P1} of a core in the last round)" : ""));
                    return commands;
                }
            }
        }

        // Several rounds, each measuring every pipeline in turn, so that a slow patch of a shared machine does not
        // fall on one pipeline only; each pipeline is reported by its median round.
        var measured = new Dictionary<string, List<RunMeasurement>>();
        async Task ImportAsync(string postgres)
        {
            await using var services = WorkerServices(postgres, storage.BatchSize, storage.Lanes).BuildServiceProvider();
            await services.GetRequiredService<DemoDataImport>().ImportAsync(seed, overwrite: true, cancellationToken);
        }
        static string Size(int documents) => documents switch
        {
            >= 1_000_000 when documents % 1_000_000 == 0 => $"{documents / 1_000_000}M",
            >= 1_000 when documents % 1_000 == 0 => $"{documents / 1_000}k",
            _ => documents.ToString(),
        };
        static SizeRow Row(Stage stage) => new(stage.Label, stage.Documents, stage.Worker?.Throughput, stage.Limit?.Throughput,
            stage.OfLimitByRound, stage.HalfRate?.P99Ms, stage.LimitHalfRate?.P99Ms, stage.Storage.DatabaseBytes,
            stage.Storage.InboxEntries, stage.Storage.InboxBytesPerEntry, stage.WalBytesPerCommand);
        // The limit and the baseline each run in a process of their own, started at their first round and kept until the
        // end, so that each is warmed up once, as the worker is, and its CPU is its own.
        PipelineProcess? limitProcess = null, baselineProcess = null;
        const string limitPrefix = "bench-limit.", baselinePrefix = "bench-baseline.";
        async Task WithLimitAsync(Func<string, ProcessSampler, Task> measure)
        {
            limitProcess ??= await PipelineProcess.StartAsync(
                ["limit", "--rabbitmq", settings.RabbitMq, "--postgres", settings.Postgres, "--prefix", limitPrefix,
                 "--prefetch", prefetch.ToString(), "--batch-size", storage.BatchSize.ToString()], cancellationToken);
            using var sampler = new ProcessSampler(limitProcess.ProcessId);
            await measure(limitPrefix, sampler);
        }
        using var workerSampler = settings.Pipelines.Contains("worker")
            && (settings.WorkerPid ?? ProcessSampler.FindWorker()) is { } pid ? new ProcessSampler(pid) : null;
        if (settings.Pipelines.Contains("worker")) await RequireConsumersAsync(connection, cancellationToken);
        using var untracedSampler = settings.Untraced?.Pid is { } untracedPid ? new ProcessSampler(untracedPid) : null;
        if (untracedConnection is not null) await RequireConsumersAsync(untracedConnection, cancellationToken);
        // One stage per data size; every stage measures the pipelines in rounds, then their latency at half rate.
        // The worker with telemetry off is measured at the first size only: its database keeps the imported documents.
        async Task<Stage> MeasureStageAsync(string label, int documents, bool withUntraced)
        {
            measured.Clear();
            for (var round = 1; round <= settings.Rounds; round++)
            {
                var name = label + (settings.Rounds == 1 ? "" : $" #{round}");
                async Task Round(string pipeline, string prefix, ProcessSampler? sampler)
                {
                    var run = await Measure(pipeline + name, prefix, settings.Rate, sampler, warmUp: !warmedUp.ContainsKey(pipeline), warmUpAs: pipeline);
                    (measured.TryGetValue(pipeline, out var list) ? list : measured[pipeline] = []).Add(run);
                }
                if (settings.Pipelines.Contains("worker"))
                {
                    await Round("worker", "", workerSampler);
                }
                if (replying is not null && settings.Pipelines.Contains("worker") && withUntraced)
                {
                    // Right after the worker's round, as the untraced worker below: the two differ only in reply_to.
                    var run = await Measure(replyingName + name, "", settings.Rate, workerSampler, warmUp: false, target: replying);
                    (measured.TryGetValue("worker replies", out var list) ? list : measured["worker replies"] = []).Add(run);
                }
                if (untracedTarget is not null && withUntraced)
                {
                    // Right after the worker's round, so that the two are measured as close together as the machine allows.
                    var run = await Measure(settings.Untraced!.Label + name, "", settings.Rate, untracedSampler, warmUp: !warmedUp.ContainsKey("worker untraced"),
                        warmUpAs: "worker untraced", target: untracedTarget);
                    (measured.TryGetValue("worker untraced", out var list) ? list : measured["worker untraced"] = []).Add(run);
                }
                if (settings.Pipelines.Contains("limit"))
                {
                    await WithLimitAsync((prefix, sampler) => Round("limit", prefix, sampler));
                    if (replying is not null && withUntraced)
                    {
                        // The limit answers at reply addresses too, so that the two are compared on the same job.
                        await WithLimitAsync(async (prefix, sampler) =>
                        {
                            var run = await Measure($"limit {settings.ReplyShare:P0} reply_to" + name, prefix, settings.Rate, sampler,
                                warmUp: false, target: replying);
                            (measured.TryGetValue("limit replies", out var list) ? list : measured["limit replies"] = []).Add(run);
                        });
                    }
                }
                if (settings.Pipelines.Contains("baseline"))
                {
                    baselineProcess ??= await PipelineProcess.StartAsync(
                        ["baseline", "--rabbitmq", settings.RabbitMq, "--postgres", settings.Postgres, "--prefix", baselinePrefix],
                        cancellationToken);
                    using var sampler = new ProcessSampler(baselineProcess.ProcessId);
                    await Round("baseline", baselinePrefix, sampler);
                }
            }
            RunMeasurement? Median(string pipeline, Func<RunMeasurement, double> by) => measured.TryGetValue(pipeline, out var list)
                ? list.OrderBy(by).ElementAt(list.Count / 2) : null;
            (worker, limit, baseline) = (Median("worker", r => r.Throughput), Median("limit", r => r.Throughput), Median("baseline", r => r.Throughput));
            if (worker is not null && settings.HalfRate && settings.Rate == 0)
            {
                // Latency at a steady half of the worker's throughput, in as many rounds, and the limit's at the same rate
                // for scale: what the machine allows there without the messaging framework.
                var rate = worker.Throughput / 2;
                for (var round = 1; round <= settings.Rounds; round++)
                {
                    var name = label + $"@{rate:F0}/s" + (settings.Rounds == 1 ? "" : $" #{round}");
                    var run = await Measure("worker" + name, "", rate, workerSampler, warmUp: false);
                    (measured.TryGetValue("worker half", out var list) ? list : measured["worker half"] = []).Add(run);
                    if (!settings.Pipelines.Contains("limit")) continue;
                    await WithLimitAsync(async (prefix, sampler) =>
                    {
                        var limitRun = await Measure("limit" + name, prefix, rate, sampler, warmUp: false);
                        (measured.TryGetValue("limit half", out var limits) ? limits : measured["limit half"] = []).Add(limitRun);
                    });
                }
                (halfRate, limitHalfRate) = (Median("worker half", r => r.P99Ms), Median("limit half", r => r.P99Ms));
            }
            var ofLimit = measured.TryGetValue("worker", out var workerRounds) && measured.TryGetValue("limit", out var limitRounds)
                ? workerRounds.Zip(limitRounds, (w, l) => l.Throughput > 0 ? Math.Round(w.Throughput / l.Throughput, 2) : 0).ToArray() : [];
            var wal = workerRounds?.Select(run => walPerCommand[run.Pipeline]).DefaultIfEmpty().Average();
            return new Stage(label.Trim(), documents, worker, limit, baseline, halfRate, limitHalfRate,
                await data.MeasureAsync(cancellationToken), ofLimit, workerRounds is null ? null : wal);
        }

        var documentsMade = BenchWorkload.ImportedDocuments;
        Dictionary<string, List<RunMeasurement>>? firstMeasured = null;
        var stages = new List<Stage>();
        foreach (var size in settings.Sizes)
        {
            File.Delete(seed);
            workload = new BenchWorkload(size, settings.Mix);
            seed = workload.SeedFile();
            if (size > documentsMade)
            {
                await ImportAsync(settings.Postgres);
                await data.GrowDocumentsAsync(documentsMade, size, cancellationToken);
                documentsMade = size;
            }
            stages.Add(await MeasureStageAsync(settings.Sizes.Length > 1 ? $" {Size(size)}" : "", size, withUntraced: stages.Count == 0));
            // The summary's round-by-round figures are the first size's, as its medians are.
            firstMeasured ??= new Dictionary<string, List<RunMeasurement>>(measured);
        }
        PurgeFigures? purge = null;
        if (settings.InboxEntries > 0)
        {
            var days = Math.Max(1, (int)Math.Ceiling(storage.InboxRetention.TotalDays));
            await data.FillInboxAsync(settings.InboxEntries, days, cancellationToken);
            var size = settings.Sizes[^1];
            // No "+" in the label: it goes into correlation ids, and a JSON serializer escapes it.
            var filled = await MeasureStageAsync($" {Size(size)} inbox", size, withUntraced: false);
            stages.Add(filled);
            if (filled.Worker is { } full)
            {
                // The same half rate with the oldest day's partition dropped a third of the way in, by the worker's own
                // maintenance function: what commands feel while the purge runs.
                var rate = full.Throughput / 2;
                var entriesBefore = (await data.MeasureAsync(cancellationToken)).InboxEntries;
                // Counted from the run's first publish, not from here: the run first puts the documents back and
                // analyzes the database, which at this size takes seconds.
                var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                // The worker's own maintenance, with a retention a day shorter than the inbox was filled for, so that
                // it drops the oldest day.
                await using var services = WorkerServices(settings.Postgres, storage.BatchSize, storage.Lanes).BuildServiceProvider();
                var inbox = services.GetRequiredService<InboxPartitions>();
                var purging = Task.Run(async () =>
                {
                    await started.Task;
                    await Task.Delay(TimeSpan.FromSeconds(settings.Count / rate / 3), cancellationToken);
                    var began = Stopwatch.GetTimestamp();
                    var done = await inbox.MaintainAsync(TimeSpan.FromDays(days - 1), cancellationToken);
                    return (Stopwatch.GetElapsedTime(began), done);
                }, cancellationToken);
                var during = await Measure($"worker{filled.Label}@{rate:F0}/s purging", "", rate, workerSampler, warmUp: false,
                    publishing: started);
                var (took, done) = await purging;
                var entriesAfter = (await data.MeasureAsync(cancellationToken)).InboxEntries;
                purge = new PurgeFigures(took.TotalMilliseconds, done.Dropped, entriesBefore - entriesAfter, during.P99Ms,
                    during.MaxMs, filled.HalfRate?.P99Ms, filled.HalfRate?.MaxMs);
                Console.WriteLine($"purge: {done.Dropped} partition(s), about {entriesBefore - entriesAfter:N0} entries, in " +
                    $"{took.TotalMilliseconds:F0} ms, begun {settings.Count / rate / 3:F1} s into the {during.Seconds:F1} s run; p99 {during.P99Ms:F1} ms and max {during.MaxMs:F0} ms while it ran, against " +
                    $"{filled.HalfRate?.P99Ms:F1} ms and {filled.HalfRate?.MaxMs:F0} ms without");
            }
        }
        HistoryFigures? longHistory = null;
        if (settings.History > 0 && settings.Pipelines.Contains("worker"))
        {
            // One account with a long consent history, one with none, each updated at the same steady rate, one after
            // the other and then again, so that drift does not fall on one of them only.
            const int longAccount = 1_999_998, newAccount = 1_999_999, rate = 200;
            await data.MakeHistoryAsync(longAccount, newAccount, settings.History, cancellationToken);
            var count = Math.Max(200, settings.Count / 5);
            var byAccount = new Dictionary<int, List<RunMeasurement>> { [longAccount] = [], [newAccount] = [] };
            for (var round = 1; round <= 2; round++)
            {
                foreach (var account in new[] { longAccount, newAccount })
                {
                    var name = $"account {(account == longAccount ? $"{Size(settings.History)} events" : "new")} #{round}";
                    var run = await main.Load.RunAsync(name, BenchWorkload.HistoryCommands(count, $"{runId}-{name}", account),
                        queue => queue, 1, rate, workerSampler, null, settings.Timeout, cancellationToken);
                    runs.Add(run);
                    byAccount[account].Add(run);
                }
            }
            RunMeasurement Best(int account) => byAccount[account].OrderBy(r => r.P99Ms).First();
            longHistory = new HistoryFigures(settings.History, rate, Best(longAccount).P50Ms, Best(longAccount).P99Ms,
                Best(newAccount).P50Ms, Best(newAccount).P99Ms);
            Console.WriteLine($"an account with {settings.History:N0} events at {rate}/s: p50 {longHistory.P50Ms:F1} ms, p99 " +
                $"{longHistory.P99Ms:F1} ms; a new account: p50 {longHistory.NewP50Ms:F1} ms, p99 {longHistory.NewP99Ms:F1} ms");
        }
        foreach (var (process, prefix) in new[] { (limitProcess, limitPrefix), (baselineProcess, baselinePrefix) })
        {
            if (process is null) continue;
            await process.DisposeAsync();
            await DeleteQueuesAsync(connection, prefix, cancellationToken);
        }
        (worker, limit, baseline, halfRate, limitHalfRate) =
            (stages[0].Worker, stages[0].Limit, stages[0].Baseline, stages[0].HalfRate, stages[0].LimitHalfRate);
        File.Delete(seed);

        Console.WriteLine();
        Console.Write(BenchReport.Table(runs));
        if (stages.Count > 1) Console.Write(BenchReport.SizeTable(stages.Select(Row).ToList(), purge));
        var summary = BenchReport.Summary(worker, limit, baseline, halfRate, limitHalfRate, runs, new Dictionary<string, object>
        {
            ["count"] = settings.Count, ["rate"] = settings.Rate, ["concurrency"] = settings.Concurrency,
            ["documents"] = settings.Sizes[0], ["batchSize"] = storage.BatchSize, ["lanes"] = storage.Lanes,
            ["partitioned"] = settings.Partitioned, ["workerInstances"] = int.TryParse(Environment.GetEnvironmentVariable("BENCH_INSTANCES"), out var instances) ? instances : 1,
            ["queueType"] = environment[$"{MessagingOptions.Section}:QueueType"] ?? "Classic",
            ["prefetch"] = (int)prefetch, ["warmupCommands"] = warmedUp, ["rounds"] = settings.Rounds, ["processors"] = Environment.ProcessorCount,
            // Worker and limit of the same round ran one after the other: their ratio is the least disturbed by drift.
            ["ofLimitByRound"] = firstMeasured!.TryGetValue("worker", out var workers) && firstMeasured!.TryGetValue("limit", out var limits)
                ? workers.Zip(limits, (w, l) => Math.Round(w.Throughput / l.Throughput, 2)).ToArray() : Array.Empty<double>(),
            // The worker with metrics and tracing on, as a share of the same build with both off, round by round.
            ["telemetryOnOffByRound"] = workers is not null && firstMeasured!.TryGetValue("worker untraced", out var untracedRuns)
                ? workers.Zip(untracedRuns, (on, off) => Math.Round(on.Throughput / off.Throughput, 3)).ToArray() : Array.Empty<double>(),
            ["secondWorker"] = settings.Untraced?.Label!,
            // With a share of commands asking for a reply, worker and limit alike: the worker's ratio to the limit, by
            // round, to set beside ofLimitByRound (the same without replies).
            ["replyShare"] = settings.ReplyShare,
            ["repliesOfLimitByRound"] = firstMeasured!.TryGetValue("worker replies", out var replyRuns)
                && firstMeasured!.TryGetValue("limit replies", out var limitRuns)
                ? replyRuns.Zip(limitRuns, (r, l) => Math.Round(r.Throughput / l.Throughput, 2)).ToArray() : Array.Empty<double>(),
            ["repliesThroughput"] = replyRuns is { Count: > 0 } ? Math.Round(replyRuns.OrderBy(r => r.Throughput).ElementAt(replyRuns.Count / 2).Throughput) : null!,
            ["untracedThroughput"] = firstMeasured!.TryGetValue("worker untraced", out var offRuns) ? Math.Round(offRuns.OrderBy(r => r.Throughput).ElementAt(offRuns.Count / 2).Throughput) : null!,
            ["sizes"] = stages.Count > 1 ? stages.Select(Row).ToArray() : Array.Empty<SizeRow>(),
            ["purge"] = purge!,
            ["history"] = longHistory!,
        });
        Directory.CreateDirectory(settings.Output);
        var stamp = DateTime.UtcNow.ToString("yyyyMMdd-HHmmss");
        var json = BenchReport.Json(summary);
        await File.WriteAllTextAsync(Path.Combine(settings.Output, $"bench-{stamp}.json"), json + "\n", cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(settings.Output, $"bench-{stamp}.svg"), BenchReport.Plot(new[] { worker, limit, baseline, halfRate, limitHalfRate }.OfType<RunMeasurement>().ToList()), cancellationToken);
        Console.WriteLine($"plot and summary written to {Path.Combine(settings.Output, $"bench-{stamp}.svg")} and .json");
        Console.WriteLine(json);
        var lost = runs.Sum(r => r.Commands - r.Results);
        var wrong = runs.Sum(r => r.UnexpectedOutcomes);
        var unanswered = runs.Sum(r => r.Replies.Asked - r.Replies.Received);
        if (replying is not null)
            Console.WriteLine($"replies: {runs.Sum(r => r.Replies.Received)} of {runs.Sum(r => r.Replies.Asked)} asked for arrived");
        // Speed never fails the bench; lost or wrongly answered commands do.
        return lost == 0 && wrong == 0 && unanswered == 0 ? 0 : 1;
    }

    // Their JIT threads together must be all but idle; null where /proc cannot tell.
    static long? JitCpuTicks(int[] processIds) =>
        processIds.Select(ProcessSampler.JitCpuTicks).Aggregate((long?)0, (sum, ticks) => sum + ticks);

    /// <summary>The worker's storage, rules and handlers, without its bus.</summary>
    static ServiceCollection WorkerServices(string postgres, int batchSize, int lanes)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Postgres"] = postgres,
            ["Storage:BatchSize"] = batchSize.ToString(),
            ["Storage:Lanes"] = lanes.ToString(),
        }).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        // MassTransit warns of every retry, and the baseline retries each lost version race by design.
        services.AddLogging(logging => logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning)
            .AddFilter("MassTransit", LogLevel.Error));
        services.AddDocumentStorage(configuration, development: false);
        services.AddLeadSegments();
        services.AddMarketingPermissions();
        services.AddCustomerPromotionLists();
        services.AddSingleton<DemoDataImport>();
        return services;
    }

    static async Task RequireConsumersAsync(IConnection connection, CancellationToken cancellationToken)
    {
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        foreach (var queue in new[] { UpdateLeadSegment.Queue, UpdateMarketingPermissions.Queue, UpdateCustomerPromotionList.Queue })
        {
            var declared = await channel.QueueDeclarePassiveAsync(queue, cancellationToken);
            if (declared.ConsumerCount == 0)
                throw new InvalidOperationException($"Nobody consumes {queue}: start the worker first (make run)");
        }
    }

    static async Task DeleteQueuesAsync(IConnection connection, string prefix, CancellationToken cancellationToken)
    {
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        foreach (var queue in new[] { UpdateLeadSegment.Queue, UpdateMarketingPermissions.Queue, UpdateCustomerPromotionList.Queue })
        {
            await channel.QueueDeleteAsync(prefix + queue, cancellationToken: cancellationToken);
        }
    }
}
