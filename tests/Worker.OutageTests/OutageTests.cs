using System.Diagnostics;
using Contracts.LeadSegments;
using Npgsql;
using Worker.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

using Worker.IntegrationTests.Reliability;

namespace Worker.OutageTests;

/// <summary>
/// A dependency away for longer than a restart: the database or the broker stopped for 3 minutes, or its port made
/// silent. The worker, as its own process, waits: no command is answered as failed, none is lost or applied twice,
/// every answer is the one applying the stream in publish order gives, and sending every command again with the same
/// message id changes nothing. The outage is told in a few lines, without a stack trace, and noticed within the bound
/// docs/operations.md gives.
/// </summary>
[Collection(OutageCollection.Name)]
public sealed class OutageTests(FaultFixture fixture, ITestOutputHelper output) : StreamScenario(fixture, output)
{
    const int Count = 1200;
    static readonly TimeSpan Stopped = TimeSpan.FromMinutes(3);
    static readonly TimeSpan ResultTimeout = TimeSpan.FromMinutes(3);

    /// <summary>HealthOptions' probe interval and timeout, and a little for a loaded machine.</summary>
    static readonly TimeSpan DatabaseNoticedWithin = TimeSpan.FromSeconds(2 + 5 + 3);

    /// <summary>
    /// RabbitMQ.Client gives a connection up at its fourth heartbeat check (every 5 s) without a frame, and the watch
    /// reads the bus health every 2 s: 22 s (measured: 17 to 20 s); a little for a loaded machine.
    /// </summary>
    static readonly TimeSpan BrokerNoticedWithin = TimeSpan.FromSeconds(4 * 5 + 2 + 5);

    /// <summary>
    /// The production default for a stuck command (the test processes' own is 30 s): a command in hand when the broker
    /// goes silent is held until the heartbeat notices, and only then does its time stop counting.
    /// </summary>
    static readonly Dictionary<string, string> PlainLogs = new() { ["Messaging__StuckCommandAfter"] = "00:05:00" };

    static readonly Dictionary<string, string> JsonLogs = new(PlainLogs) { ["Logging__Console__FormatterName"] = "json" };

    [Fact]
    public async Task PostgreSQL_stopped_for_3_minutes_while_commands_arrive_fails_no_command_and_is_told_in_a_few_lines()
    {
        await RunAsync("pgaway", "database", "PostgreSQL", JsonLogs, publishWhileAway: true, Stopped,
            goAway: () => Fixture.Services.StopPostgresAsync(),
            comeBack: async () =>
            {
                await Fixture.Services.StartPostgresAsync();
                Fixture.Database.Clear();
            });
    }

    [Fact]
    public async Task RabbitMQ_stopped_for_3_minutes_fails_no_command_and_is_told_in_a_few_lines()
    {
        await RunAsync("mqaway", "broker", "RabbitMQ", PlainLogs, publishWhileAway: false, Stopped,
            goAway: () => Fixture.Services.StopRabbitMqAsync(),
            comeBack: () => Fixture.Services.StartRabbitMqAsync());
    }

    [Fact]
    public Task PostgreSQLs_port_black_holed_for_90_seconds_is_noticed_within_its_bound_and_fails_no_command() =>
        BlackHoledAsync("pghole", "database", "PostgreSQL", JsonLogs, publishWhileAway: true,
            new NpgsqlConnectionStringBuilder(Fixture.Services.Postgres).Port, TimeSpan.FromSeconds(90), DatabaseNoticedWithin);

    // The test's own publisher goes through the broker's port: nothing is published while it is silent.
    [Fact]
    public Task RabbitMQs_port_black_holed_for_150_seconds_is_noticed_within_its_bound_and_fails_no_command() =>
        BlackHoledAsync("mqhole", "broker", "RabbitMQ", PlainLogs, publishWhileAway: false,
            Fixture.Services.AmqpPort, TimeSpan.FromSeconds(150), BrokerNoticedWithin);

    async Task BlackHoledAsync(string run, string dependency, string name, IDictionary<string, string> settings,
        bool publishWhileAway, int port, TimeSpan outage, TimeSpan noticedWithin)
    {
        BlackHole? hole = null;
        try
        {
            await RunAsync(run, dependency, name, settings, publishWhileAway, outage,
                goAway: async () => hole = await BlackHole.OpenAsync(port),
                comeBack: () => hole!.CloseAsync(),
                noticedWithin);
        }
        finally
        {
            if (hole is not null) await hole.DisposeAsync();
        }
    }

    /// <summary>
    /// A command whose handling fails every time while the database is up still ends as a failed answer in the error
    /// queue after its retries, and the worker goes on with the others meanwhile: it is not an outage.
    /// </summary>
    [Fact]
    public async Task A_poison_command_still_ends_in_the_error_queue_and_pauses_nothing()
    {
        // Too short a stream for unreadable commands: the lead segments' error queue holds the poison command alone.
        var stream = new MixedCommandStream(300, run: "poison");
        await Fixture.ResetAsync(stream);
        await using var worker = await WorkerProcess.StartAsync(Fixture.Services,
            new Dictionary<string, string> { ["Messaging__RetryLimit"] = "3" });
        await using var observer = new OutageObserver(worker);
        // Every write of the demo data's lead segment acme/1234 fails, while the database answers everything else.
        await using (var breakWrites = Fixture.Database.CreateCommand("""
            create or replace function test_poison() returns trigger language plpgsql as $$
            begin
                if new.tenant_id = 'acme' and new.id::text = '1234' then raise exception 'injected fault'; end if;
                return new;
            end $$;
            drop trigger if exists test_poison on mt_doc_leadsegment;
            create trigger test_poison before update on mt_doc_leadsegment for each row execute function test_poison();
            """))
            await breakWrites.ExecuteNonQueryAsync();
        try
        {
            var channel = await Fixture.OpenPublisherAsync();
            await channel.BasicPublishAsync("", UpdateLeadSegment.Queue, mandatory: true,
                new RabbitMQ.Client.BasicProperties { ContentType = "application/json", MessageId = Guid.NewGuid().ToString() },
                """{"correlationId":"poison-1","enterprise":"acme","id":"1234","body":{"description":"never"}}"""u8.ToArray());
            await channel.DisposeAsync();
            await PublishAsync(stream);
            await WaitForResultsAsync(stream, 1, ResultTimeout);
            var answer = await Fixture.Results.WaitForAsync("poison-1", TimeSpan.FromMinutes(1));
            Assert.Equal(500, answer.Status);
            Assert.Equal("INTERNAL_SERVER_ERROR", answer.Body.GetProperty("errors")[0].GetProperty("code").GetString());
            var errors = new List<string>();
            for (var waited = Stopwatch.StartNew(); errors.Count == 0 && waited.Elapsed < TimeSpan.FromSeconds(10); await Task.Delay(100))
                errors.AddRange((await Fixture.DrainAsync(UpdateLeadSegment.Queue + "_error")).Select(m => System.Text.Encoding.UTF8.GetString(m.Body.Span)));
            Assert.Contains("poison-1", Assert.Single(errors));

            // No outage: nothing paused, nothing said of one.
            var metrics = await worker.MetricsAsync();
            Assert.Equal(0, OutageObserver.Value(metrics, "worker_outages_total", "database") ?? 0);
            Assert.Equal(0, OutageObserver.Value(metrics, "worker_dependency_away", "database"));
            Assert.Null(observer.FirstAway("database"));
            Assert.DoesNotContain(observer.LogEntries(), e => e.Category.EndsWith("DependencyOutages"));
            await AssertGuaranteesAsync(stream, 1, "a poison command among them");
        }
        finally
        {
            await using var repair = Fixture.Database.CreateCommand("drop trigger if exists test_poison on mt_doc_leadsegment");
            await repair.ExecuteNonQueryAsync();
        }
    }

    /// <summary>
    /// Publishes the stream with a dependency away part-way: <paramref name="goAway"/> after the first third; while
    /// <paramref name="publishWhileAway"/>, half the stream more arrives, paced over the outage; after
    /// <paramref name="outage"/>, <paramref name="comeBack"/> and the rest. Then every guarantee, the log, the
    /// metrics, and the whole stream sent again.
    /// </summary>
    async Task RunAsync(string run, string dependency, string name, IDictionary<string, string>? settings,
        bool publishWhileAway, TimeSpan outage, Func<Task> goAway, Func<Task> comeBack, TimeSpan? noticedWithin = null)
    {
        var stream = new MixedCommandStream(Count, run: run);
        await Fixture.ResetAsync(stream);
        await using var worker = await WorkerProcess.StartAsync(Fixture.Services, settings);
        await using var observer = new OutageObserver(worker);
        var (awayFrom, awayUntil) = (Count / 3, publishWhileAway ? Count * 5 / 6 : Count / 3);
        var pace = (outage - TimeSpan.FromSeconds(30)) / Math.Max(1, awayUntil - awayFrom);
        var (faultAt, readiness) = (TimeSpan.Zero, (Status: 0, Body: ""));
        var away = new Stopwatch();

        await PublishAsync(stream, afterEach: async i =>
        {
            if (i == awayFrom - 1)
            {
                faultAt = observer.Now;
                await goAway();
                away.Start();
                Output.WriteLine($"{name} away at {faultAt.TotalSeconds:F1} s, after {i + 1} commands");
            }
            else if (i >= awayFrom && i < awayUntil - 1) await Task.Delay(pace);
            if (i != awayUntil - 1) return;
            while (away.Elapsed < outage)
            {
                await Task.Delay(TimeSpan.FromSeconds(1));
                // Half-way: what an orchestrator's readiness probe sees.
                if (readiness.Status == 0 && away.Elapsed > outage / 2) readiness = await worker.ReadinessAsync();
            }
            await comeBack();
            Output.WriteLine($"{name} back at {observer.Now.TotalSeconds:F1} s");
        });
        await WaitForResultsAsync(stream, 1, ResultTimeout);

        var entries = observer.LogEntries();
        Output.WriteLine($"log entries from the fault on, but the per-command answers ({entries.Count}):");
        foreach (var entry in entries) Output.WriteLine($"  {entry.Level} {entry.Category}: {entry.Message}{(entry.HasStackTrace ? " [stack trace]" : "")}");
        var noticed = observer.FirstAway(dependency) - faultAt;
        var metrics = await worker.MetricsAsync();
        var paused = OutageObserver.Value(metrics, "worker_paused_seconds_total", dependency) ?? 0;
        Output.WriteLine($"noticed after {noticed?.TotalSeconds:F1} s; paused {paused:F0} s; at most {observer.MostHeld} commands held; " +
            $"readiness half-way: {readiness.Status} {readiness.Body}");

        await AssertGuaranteesAsync(stream, 1, $"{name} away for {outage.TotalSeconds:F0} s");

        // Told in a few lines: when it went, while it stayed away, when it was back; no stack trace.
        Assert.InRange(entries.Count, 2, 5);
        Assert.DoesNotContain(entries, e => e.HasStackTrace);
        Assert.Contains(entries, e => e.Level is "warn" or "Warning" && e.Message.StartsWith($"{name} is away"));
        Assert.Contains(entries, e => e.Level is "info" or "Information" && e.Message.StartsWith($"{name} is back"));
        Assert.NotNull(noticed);
        if (noticedWithin is { } bound) Assert.True(noticed <= bound, $"{name} noticed after {noticed?.TotalSeconds:F1} s, not within {bound.TotalSeconds} s");
        Assert.True(paused >= (outage - noticed!.Value).TotalSeconds - 5, $"paused {paused:F0} s of an outage of {outage.TotalSeconds} s");
        Assert.Equal(503, readiness.Status);
        Assert.Contains($"{name} is away since", readiness.Body);
        if (publishWhileAway) Assert.True(observer.MostHeld > 0, "no command was held while the dependency was away");

        // What an upstream does after an outage: sends every command again, with the same message ids. Each is answered
        // as before, and nothing stored changes.
        await PublishAsync(stream);
        await WaitForResultsAsync(stream, 2, ResultTimeout);
        await AssertGuaranteesAsync(stream, 2, $"{name} away, then every command sent again");
    }
}
