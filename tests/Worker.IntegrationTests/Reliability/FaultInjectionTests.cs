using Npgsql;
using Worker.IntegrationTests.Infrastructure;
using Worker.Messaging;
using Xunit.Abstractions;

namespace Worker.IntegrationTests.Reliability;

/// <summary>
/// At-least-once delivery turned into exactly-once effect: a stream of 2,000 mixed commands is processed by the
/// worker as its own process while a fault is injected part-way, and afterwards every guarantee is checked.
/// </summary>
[Collection(FaultCollection.Name)]
public sealed class FaultInjectionTests(FaultFixture fixture, ITestOutputHelper output) : StreamScenario(fixture, output)
{
    const int Count = 2000;
    static readonly TimeSpan ResultTimeout = TimeSpan.FromMinutes(3);

    /// <summary>How long an orchestrator's progress probe lets a worker go without answering anything.</summary>
    static readonly TimeSpan ProgressProbe = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task Killing_the_worker_with_SIGKILL_and_starting_it_again_loses_and_repeats_nothing()
    {
        var stream = new MixedCommandStream(Count, run: "kill");
        await Fixture.ResetAsync(stream);
        var worker = await WorkerProcess.StartAsync(Fixture.Services);
        try
        {
            await PublishAsync(stream, afterEach: async i =>
            {
                if (i != Count / 3) return;
                await worker.KillAsync();
                worker = await WorkerProcess.StartAsync(Fixture.Services);
            });
            await WaitForResultsAsync(stream, 1, ResultTimeout);
            await AssertGuaranteesAsync(stream, 1, "kill -9 of the worker");
        }
        finally
        {
            await worker.DisposeAsync();
        }
    }

    [Fact]
    public async Task Restarting_RabbitMQ_mid_stream_loses_and_repeats_nothing()
    {
        var stream = new MixedCommandStream(Count, run: "rabbit");
        await Fixture.ResetAsync(stream);
        WorkerProcess? worker = null;
        try
        {
            await PublishAsync(stream, afterEach: async i =>
            {
                if (i != Count / 3) return;
                // A third of the stream waits in the queues, so that the worker has a full prefetch of commands in
                // flight when the broker goes down.
                worker = await WorkerProcess.StartAsync(Fixture.Services);
                await Task.Delay(100);
                await Fixture.Services.StopRabbitMqAsync();
                await Fixture.Services.StartRabbitMqAsync();
            });
            // MassTransit 8.5 recovers from such an outage by itself (8.4 sometimes left an endpoint down, and the
            // worker had to start afresh). Should the worker exit for its supervisor, or stop answering, the test
            // plays the supervisor or an orchestrator's progress probe, so that the run still shows everything
            // else, and then fails.
            var (restarts, probeRestarts) = (0, 0);
            var (lastMissing, progressAt) = (-1, DateTime.UtcNow);
            await WaitForResultsAsync(stream, 1, ResultTimeout, async () =>
            {
                var missing = Fixture.Results.CountMissing(stream.Commands.Select(c => c.CorrelationId), 1);
                if (missing != lastMissing) (lastMissing, progressAt) = (missing, DateTime.UtcNow);
                if (worker?.ExitCode == StuckCommandWatchdog.ExitCode)
                {
                    Output.WriteLine($"the worker exited with {StuckCommandWatchdog.ExitCode}: starting it again, as its supervisor would");
                    (restarts, progressAt) = (restarts + 1, DateTime.UtcNow);
                }
                else if (worker is not null && DateTime.UtcNow - progressAt > ProgressProbe)
                {
                    Output.WriteLine($"no result for {ProgressProbe.TotalSeconds:F0} s with {missing} missing: restarting the worker, as a progress probe would");
                    (probeRestarts, progressAt) = (probeRestarts + 1, DateTime.UtcNow);
                }
                else return;
                if (Environment.GetEnvironmentVariable("WORKER_IT_KEEP") == "1")
                    await File.WriteAllTextAsync(Path.Combine(Path.GetTempPath(), $"worker-stuck-{DateTime.UtcNow:HHmmss}.log"), worker!.Output);
                ShowMessagingLog(worker);
                await worker.DisposeAsync();
                worker = await WorkerProcess.StartAsync(Fixture.Services);
            });
            var restartingHost = (worker?.Output ?? "").Split('\n').Count(l => l.Contains("Starting afresh in-process"));
            Output.WriteLine($"RabbitMQ restart: the worker started afresh in-process {restartingHost} time(s); it was " +
                $"started again by its supervisor {restarts} time(s), by the progress probe {probeRestarts} time(s)");

            // Commands in flight when the connection dropped are delivered again and take their turn before the
            // later commands for their documents, also across a fresh start.
            await AssertGuaranteesAsync(stream, 1, "RabbitMQ restart");
            Assert.Equal(0, restarts);
            Assert.Equal(0, probeRestarts);
        }
        finally
        {
            if (worker is not null)
            {
                ShowMessagingLog(worker);
                // WORKER_IT_KEEP=1 keeps the worker's whole output too, to read after a failed run.
                if (Environment.GetEnvironmentVariable("WORKER_IT_KEEP") == "1")
                {
                    var file = Path.Combine(Path.GetTempPath(), $"worker-rabbit-{DateTime.UtcNow:HHmmss}.log");
                    await File.WriteAllTextAsync(file, worker.Output);
                    Output.WriteLine("worker output kept in " + file);
                }
                // The worker's errors, to explain a failed guarantee.
                var lines = worker.Output.Split('\n');
                var failures = Enumerable.Range(0, lines.Length)
                    .Where(i => lines[i].StartsWith("fail:") || lines[i].StartsWith("crit:"))
                    .OrderBy(i => lines[i].StartsWith("crit:") ? 0 : lines[i].StartsWith("fail: Worker") ? 1 : 2).Take(5);
                foreach (var i in failures)
                    foreach (var line in lines.Skip(i).Take(12)) Output.WriteLine("worker: " + line);
                await worker.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_command_stuck_at_the_database_gets_the_worker_started_afresh_in_process()
    {
        var stream = new MixedCommandStream(600, run: "stuck");
        await Fixture.ResetAsync(stream);
        await using var worker = await WorkerProcess.StartAsync(Fixture.Services,
            new Dictionary<string, string> { ["Messaging__StuckCommandAfter"] = "00:00:03" });

        // Another writer holds a lead segment's row: the command that updates it waits, and its lane with it.
        await using var blocker = await Fixture.Database.OpenConnectionAsync();
        await using var transaction = await blocker.BeginTransactionAsync();
        await using (var lockRow = new NpgsqlCommand(
            "select 1 from mt_doc_leadsegment where tenant_id = $1 and id = $2 for update", blocker, transaction))
        {
            lockRow.Parameters.Add(new NpgsqlParameter { Value = MixedCommandStream.Enterprise });
            lockRow.Parameters.Add(new NpgsqlParameter { Value = MixedCommandStream.SegmentId(0) });
            Assert.Equal(1, await lockRow.ExecuteScalarAsync());
        }
        await PublishAsync(stream, afterEach: async i =>
        {
            if (i != stream.Commands.Count / 2) return;
            await WaitForOutputAsync(worker, "starting afresh", TimeSpan.FromSeconds(60));
            await transaction.RollbackAsync();
            // The second half goes to the new host.
            await WaitForOutputAsync(worker, "Starting afresh in-process", TimeSpan.FromSeconds(60));
            await worker.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
        });

        await WaitForResultsAsync(stream, 1, ResultTimeout);
        ShowMessagingLog(worker);
        Assert.False(worker.HasExited, "the worker process exited instead of starting afresh in-process");
        // Counted across the fresh start, for the operator's alert (UpdateWorkerStartedAfresh).
        Assert.Matches(@"(?m)^worker_fresh_starts_total(\{[^}]*\})? 1$", await worker.MetricsAsync());
        await AssertGuaranteesAsync(stream, 1, "a command stuck at the database");
    }

    static async Task WaitForOutputAsync(WorkerProcess worker, string text, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (!worker.Output.Contains(text))
        {
            Assert.True(DateTime.UtcNow < until, $"the worker did not log '{text}':\n{worker.Output}");
            Assert.False(worker.HasExited, $"the worker exited with {worker.ExitCode}:\n{worker.Output}");
            await Task.Delay(100);
        }
    }

    /// <summary>What a worker that had to be started afresh said about its bus, to explain why it stopped consuming.</summary>
    void ShowMessagingLog(WorkerProcess worker)
    {
        var lines = worker.Output.Split('\n');
        var shown = Enumerable.Range(0, lines.Length - 1)
            .Where(i => lines[i].StartsWith("warn:") || lines[i].StartsWith("crit:") || lines[i].StartsWith("info: Worker.Messaging")
                || lines[i].StartsWith("fail: Worker"))
            .SelectMany(i => new[] { lines[i], lines[i + 1] }).Take(100);
        foreach (var line in shown) Output.WriteLine("worker log: " + line);
    }

    [Fact]
    public async Task Restarting_PostgreSQL_three_times_mid_stream_answers_every_command_as_serial_application_does()
    {
        var stream = new MixedCommandStream(Count, run: "postgres");
        await Fixture.ResetAsync(stream);
        await using var worker = await WorkerProcess.StartAsync(Fixture.Services);

        await PublishDuringAsync(stream, TimeSpan.FromMilliseconds(300), async () =>
        {
            for (var restart = 0; restart < 3; restart++)
            {
                await Task.Delay(TimeSpan.FromSeconds(1.5));
                // As pg_ctl restart -m fast: every connection is cut, transactions in progress are rolled back.
                await Fixture.Services.StopPostgresAsync();
                if (restart == 0) Assert.Equal(503, await worker.ReadinessStatusAsync());
                await Fixture.Services.StartPostgresAsync();
                Fixture.Database.Clear();
            }
        });
        await WaitForResultsAsync(stream, 1, ResultTimeout);

        await AssertGuaranteesAsync(stream, 1, "three PostgreSQL restarts");
        Assert.Equal(200, await worker.ReadinessStatusAsync());
    }

    [Fact]
    public async Task Killing_PostgreSQL_mid_stream_answers_every_command_as_serial_application_does()
    {
        var stream = new MixedCommandStream(Count, run: "pgkill");
        await Fixture.ResetAsync(stream);
        // The throwaway servers run with synchronous_commit=off, which a crash may undo: this test's commits are
        // durable before they are answered, as on a production server, so that a crash undoes none of them.
        await using (var durable = Fixture.Database.CreateCommand("alter database worker set synchronous_commit = on"))
            await durable.ExecuteNonQueryAsync();
        try
        {
            await using var worker = await WorkerProcess.StartAsync(Fixture.Services);
            await PublishDuringAsync(stream, TimeSpan.FromMilliseconds(300), async () =>
            {
                await Task.Delay(TimeSpan.FromSeconds(1.5));
                // SIGKILL of the server and its backends: no shutdown, the next start recovers from the WAL.
                await Fixture.Services.KillPostgresAsync();
                await Fixture.Services.StartPostgresAsync();
                Fixture.Database.Clear();
            });
            await WaitForResultsAsync(stream, 1, ResultTimeout);

            await AssertGuaranteesAsync(stream, 1, "PostgreSQL killed");
            Assert.Equal(200, await worker.ReadinessStatusAsync());
        }
        finally
        {
            await using var fast = Fixture.Database.CreateCommand("alter database worker reset synchronous_commit");
            await fast.ExecuteNonQueryAsync();
        }
    }

    [Fact]
    public async Task Ending_the_workers_database_connections_mid_stream_answers_every_command_as_serial_application_does()
    {
        var stream = new MixedCommandStream(Count, run: "terminate");
        await Fixture.ResetAsync(stream);
        // The worker's connections are told apart from the test's own by their application name.
        const string application = "worker-under-fault";
        await using var worker = await WorkerProcess.StartAsync(Fixture.Services, new Dictionary<string, string>
        {
            ["ConnectionStrings__Postgres"] = $"{Fixture.Services.Postgres};Application Name={application}",
        });

        var ended = 0;
        await PublishDuringAsync(stream, TimeSpan.FromMilliseconds(300), async () =>
        {
            for (var round = 0; round < 6; round++)
            {
                await Task.Delay(TimeSpan.FromSeconds(0.8));
                await using var terminate = Fixture.Database.CreateCommand(
                    "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1) ended");
                terminate.Parameters.Add(new NpgsqlParameter { Value = application });
                ended += (int)(long)(await terminate.ExecuteScalarAsync())!;
            }
        });
        await WaitForResultsAsync(stream, 1, ResultTimeout);

        Output.WriteLine($"database connections ended under the worker: {ended}");
        Assert.True(ended > 0, "the worker had no database connection to end");
        await AssertGuaranteesAsync(stream, 1, "the worker's database connections ended");
    }

    [Fact]
    public async Task Stopping_the_worker_with_SIGSTOP_for_3_seconds_answers_every_command_as_serial_application_does()
    {
        var stream = new MixedCommandStream(Count, run: "sigstop");
        await Fixture.ResetAsync(stream);
        await using var worker = await WorkerProcess.StartAsync(Fixture.Services);

        await PublishDuringAsync(stream, TimeSpan.FromMilliseconds(200), async () =>
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            await worker.PauseAsync(TimeSpan.FromSeconds(3));
        });
        await WaitForResultsAsync(stream, 1, ResultTimeout);

        await AssertGuaranteesAsync(stream, 1, "the worker stopped with SIGSTOP for 3 s");
    }

    [Fact]
    public async Task Both_cores_taken_by_busy_processes_for_15_seconds_leave_every_answer_as_serial_application_gives()
    {
        var stream = new MixedCommandStream(Count, run: "busy");
        await Fixture.ResetAsync(stream);
        await using var worker = await WorkerProcess.StartAsync(Fixture.Services);

        // Two busy processes per core, each ending by itself after 15 s, while the stream is published over about 12 s.
        var busy = Enumerable.Range(0, 2 * Environment.ProcessorCount)
            .Select(_ => System.Diagnostics.Process.Start("timeout", ["15", "sh", "-c", "while :; do :; done"])).ToList();
        try
        {
            await PublishDuringAsync(stream, TimeSpan.FromMilliseconds(600), () => Task.CompletedTask);
            await WaitForResultsAsync(stream, 1, ResultTimeout);
        }
        finally
        {
            foreach (var process in busy)
            {
                if (!process.HasExited) process.Kill();
                await process.WaitForExitAsync();
                process.Dispose();
            }
        }

        await AssertGuaranteesAsync(stream, 1, "both cores busy with other processes for 15 s");
    }

    [Fact]
    public async Task Publishing_every_command_twice_applies_each_once_and_answers_both_copies_alike()
    {
        var stream = new MixedCommandStream(Count, run: "twice");
        await Fixture.ResetAsync(stream);
        await using var worker = await WorkerProcess.StartAsync(Fixture.Services);

        await PublishAsync(stream, copies: 2);
        await WaitForResultsAsync(stream, 2, ResultTimeout);

        await AssertGuaranteesAsync(stream, 2, "every command published twice");
    }

    [Fact]
    public async Task With_several_lanes_every_document_still_takes_its_commands_in_arrival_order()
    {
        // One lane is the default; a deployment may configure more (a database a network hop away). Then batches of
        // different lanes commit side by side, and only the lane a document hashes to may order its commands.
        var stream = new MixedCommandStream(Count, segments: 5, accounts: 3, run: "lanes");
        await Fixture.ResetAsync(stream);
        await using var worker = await WorkerProcess.StartAsync(Fixture.Services,
            new Dictionary<string, string> { ["Storage__Lanes"] = "4" });

        await PublishAsync(stream);
        await WaitForResultsAsync(stream, 1, ResultTimeout);

        await AssertGuaranteesAsync(stream, 1, "four lanes");
    }

    [Fact]
    public async Task SIGTERM_finishes_the_commands_in_flight_and_exits_cleanly()
    {
        var stream = new MixedCommandStream(Count, run: "sigterm");
        await Fixture.ResetAsync(stream);
        var worker = await WorkerProcess.StartAsync(Fixture.Services);
        try
        {
            await PublishAsync(stream);
            while (Fixture.Results.CountMissing(stream.Commands.Select(c => c.CorrelationId), 1) > Count * 2 / 3) await Task.Delay(20);

            Assert.Equal(0, await worker.TerminateAsync(TimeSpan.FromSeconds(40)));
            Assert.DoesNotContain("Unhandled exception", worker.Output);

            // What was not taken before the stop waits in the queue for the next worker.
            worker = await WorkerProcess.StartAsync(Fixture.Services);
            await WaitForResultsAsync(stream, 1, ResultTimeout);
            await AssertGuaranteesAsync(stream, 1, "SIGTERM mid-stream");
        }
        finally
        {
            await worker.DisposeAsync();
        }
    }

    [Fact]
    public async Task Two_worker_processes_on_one_queue_lose_no_update()
    {
        var stream = new MixedCommandStream(Count, segments: 5, accounts: 3, run: "two");
        await Fixture.ResetAsync(stream);
        await using var first = await WorkerProcess.StartAsync(Fixture.Services);
        await using var second = await WorkerProcess.StartAsync(Fixture.Services);

        await PublishAsync(stream);
        await WaitForResultsAsync(stream, 1, ResultTimeout);

        // Two instances share the commands of one document, so only within an instance is arrival order kept;
        // optimistic concurrency on mt_version must still let no update overwrite another unseen.
        await AssertGuaranteesAsync(stream, 1, "two worker processes", reordersAllowed: true);
    }

    [Fact]
    public async Task Two_worker_processes_on_partitioned_queues_share_them_and_keep_every_documents_order_when_one_is_killed()
    {
        var stream = new MixedCommandStream(Count, segments: 8, accounts: 8, run: "partitions");
        await Fixture.ResetAsync(stream);
        // Shares are compared every second here (every 10 s by default), so that they settle within the stream.
        var settings = new Dictionary<string, string> { ["Messaging__RebalanceInterval"] = "00:00:01" };
        var first = await WorkerProcess.StartAsync(Fixture.Services, settings);
        await using var second = await WorkerProcess.StartAsync(Fixture.Services, settings);
        try
        {
            // The first instance took every partition as it started alone: the two share them before the kill.
            long firstBefore = 0, secondBefore = 0;
            await PublishAsync(stream, partitioned: true, afterEach: async i =>
            {
                if (i % 100 == 99 && i < Count / 2) await Task.Delay(400);
                if (i != Count / 2) return;
                (firstBefore, secondBefore) = (await first.CommandsAnsweredAsync(), await second.CommandsAnsweredAsync());
                await first.KillAsync();
            });
            await WaitForResultsAsync(stream, 1, ResultTimeout);

            Output.WriteLine($"answered before the kill: first {firstBefore}, second {secondBefore}");
            Output.WriteLine(string.Join("\n", first.Output.Split('\n').Where(l => l.Contains("Stepping back"))));
            Assert.True(secondBefore > 0, "the second instance took no partition from the first");
            Assert.True(firstBefore > 0, "the first instance gave every partition away");
            // One instance at a time takes each partition, and the broker gives the dead one's partitions, with the
            // commands it held, to the other: each document's commands are applied in publish order.
            await AssertGuaranteesAsync(stream, 1, "two worker processes sharing partitions, one killed with SIGKILL");
        }
        finally
        {
            await first.DisposeAsync();
        }
    }
}
