using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Contracts.LeadSegments;
using Microsoft.Extensions.DependencyInjection;
using Worker.Health;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.Observability;

/// <summary>
/// <c>/metrics</c> on the health listener counts what the worker answered, in Prometheus's text format, beside
/// MassTransit's, Npgsql's and the runtime's own meters.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class MetricsTests(WorkerFixture fixture) : IAsyncLifetime
{
    const string Queue = UpdateLeadSegment.Queue;

    public Task InitializeAsync() => fixture.ResetAsync();
    public Task DisposeAsync() => Task.CompletedTask;

    async Task<string> ScrapeAsync()
    {
        var address = fixture.Worker.Services.GetRequiredService<HealthEndpoint>().Address!;
        using var client = new HttpClient();
        return await client.GetStringAsync($"{address}/metrics");
    }

    /// <summary>Each sample's value by its name and labels, the labels sorted (the exporter's order is its own).</summary>
    static Dictionary<string, double> Samples(string exposition)
    {
        var samples = new Dictionary<string, double>();
        var line = new Regex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[^}]*)\})? (?<value>\S+)");
        foreach (var text in exposition.Split('\n'))
        {
            if (line.Match(text) is not { Success: true } match) continue;
            var labels = Regex.Matches(match.Groups["labels"].Value, @"(\w+)=""((?:[^""\\]|\\.)*)""")
                .Select(l => $"{l.Groups[1].Value}={l.Groups[2].Value}")
                .Where(l => !l.StartsWith("otel_scope", StringComparison.Ordinal))
                .Order(StringComparer.Ordinal);
            samples[$"{match.Groups["name"].Value}{{{string.Join(",", labels)}}}"] =
                double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
        }
        return samples;
    }

    static double Delta(Dictionary<string, double> before, Dictionary<string, double> after, string series) =>
        after.GetValueOrDefault(series) - before.GetValueOrDefault(series);

    [Fact]
    public async Task Answered_commands_are_counted_by_queue_outcome_and_status()
    {
        var before = Samples(await ScrapeAsync());

        // Two updates, one of them published twice with the same message id, a missing segment and an unreadable body.
        var once = $"metrics-{Guid.NewGuid():N}";
        await fixture.SendJsonAsync(Queue, new { correlationId = once, enterprise = "acme", id = "1234", body = new { description = "m1" } });
        var twice = $"metrics-{Guid.NewGuid():N}";
        var messageId = Guid.NewGuid().ToString();
        var command = new { correlationId = twice, enterprise = "acme", id = "5678", body = new { description = "m2" } };
        await fixture.SendJsonAsync(Queue, command, messageId);
        await fixture.SendJsonAsync(Queue, command, messageId);
        var missing = $"metrics-{Guid.NewGuid():N}";
        await fixture.SendJsonAsync(Queue, new { correlationId = missing, enterprise = "acme", id = "nope", body = new { description = "m3" } });
        var unreadable = $"metrics-{Guid.NewGuid():N}";
        await fixture.SendRawAsync(Queue, Encoding.UTF8.GetBytes("{not json"), correlationId: unreadable);

        Assert.Equal(200, (await fixture.Results.WaitForAsync(once)).Status);
        Assert.All(await fixture.Results.WaitForAsync(twice, 2), result => Assert.Equal(200, result.Status));
        Assert.Equal(404, (await fixture.Results.WaitForAsync(missing)).Status);
        Assert.Equal(400, (await fixture.Results.WaitForAsync(unreadable)).Status);
        await fixture.WaitForErrorQueueAsync(Queue);

        // A result can reach its subscriber a moment before the worker has counted it.
        Dictionary<string, double> after;
        var waited = Stopwatch.StartNew();
        do
        {
            after = Samples(await ScrapeAsync());
        } while (Delta(before, after, $"worker_command_duration_seconds_count{{queue={Queue}}}") < 5
                 && waited.Elapsed < TimeSpan.FromSeconds(5));

        Assert.Equal(3, Delta(before, after, $"worker_commands_total{{outcome=succeeded,queue={Queue},status=200}}"));
        Assert.Equal(1, Delta(before, after, $"worker_commands_total{{outcome=failed,queue={Queue},status=404}}"));
        Assert.Equal(1, Delta(before, after, $"worker_commands_total{{outcome=failed,queue={Queue},status=400}}"));
        Assert.Equal(1, Delta(before, after, $"worker_duplicates_total{{queue={Queue}}}"));
        Assert.Equal(5, Delta(before, after, $"worker_command_duration_seconds_count{{queue={Queue}}}"));
        Assert.True(Delta(before, after, "worker_batch_commands_count{}") >= 1);
        Assert.True(Delta(before, after, "worker_batch_commands_sum{}") >= 3, "every applied command is in a batch");
        // The unreadable one went to the error queue; the others were answered and kept nowhere.
        Assert.Equal(1, Delta(before, after, $"worker_commands_set_aside_total{{queue={Queue},to=error}}"));
        Assert.Equal(0, after["worker_fresh_starts_total{}"]);
    }

    [Fact]
    public async Task A_document_held_by_a_failing_command_shows_in_the_oldest_hold_gauge_until_it_is_let_go()
    {
        await using (var bug = fixture.Database.CreateCommand("""
            create or replace function test_hold() returns trigger language plpgsql as $$
            begin
                if new.id::text = '1234' then perform pg_sleep(0.3); raise exception 'injected fault'; end if;
                return new;
            end $$;
            drop trigger if exists test_hold on mt_doc_leadsegment;
            create trigger test_hold before update on mt_doc_leadsegment for each row execute function test_hold();
            """))
        {
            await bug.ExecuteNonQueryAsync();
        }
        try
        {
            var held = $"metrics-{Guid.NewGuid():N}";
            await fixture.SendJsonAsync(Queue, new { correlationId = held, enterprise = "acme", id = "1234", body = new { description = "held" } });
            // Its retries take over a second (each attempt waits 0.3 s in the trigger): the gauge rises meanwhile.
            var most = 0.0;
            for (var waited = Stopwatch.StartNew(); fixture.Results.ResultsFor(held).Count == 0 && waited.Elapsed < TimeSpan.FromSeconds(30);)
            {
                most = Math.Max(most, Samples(await ScrapeAsync()).GetValueOrDefault("worker_document_hold_oldest_seconds{}"));
                await Task.Delay(50);
            }
            Assert.Equal(500, (await fixture.Results.WaitForAsync(held)).Status);
            Assert.True(most > 0.2, $"the oldest hold never rose above {most} s while the command was retried");
            await fixture.WaitForErrorQueueAsync(Queue);
            // Let go once its delivery is settled, just after the move to the error queue.
            var after = double.MaxValue;
            for (var waited = Stopwatch.StartNew(); after > 0 && waited.Elapsed < TimeSpan.FromSeconds(10); await Task.Delay(50))
                after = Samples(await ScrapeAsync())["worker_document_hold_oldest_seconds{}"];
            Assert.Equal(0, after);
        }
        finally
        {
            await using var repair = fixture.Database.CreateCommand("drop trigger if exists test_hold on mt_doc_leadsegment");
            await repair.ExecuteNonQueryAsync();
        }
    }

    [Fact]
    public async Task The_exposition_holds_the_frameworks_and_runtimes_meters_and_passes_promtool()
    {
        await fixture.SendJsonAsync(Queue, new { correlationId = $"metrics-{Guid.NewGuid():N}", enterprise = "acme", id = "1234", body = new { description = "p" } });
        var exposition = await ScrapeAsync();

        Assert.Contains("# TYPE worker_commands_total counter", exposition);
        Assert.Contains("# TYPE worker_command_duration_seconds histogram", exposition);
        Assert.Matches(new Regex("^dotnet_", RegexOptions.Multiline), exposition);
        Assert.Matches(new Regex("^messaging_masstransit_", RegexOptions.Multiline), exposition);
        Assert.Matches(new Regex("^db_client_", RegexOptions.Multiline), exposition);

        var check = Process.Start(new ProcessStartInfo("promtool", "check metrics")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        })!;
        await check.StandardInput.WriteAsync(exposition);
        check.StandardInput.Close();
        var problems = (await check.StandardError.ReadToEndAsync() + await check.StandardOutput.ReadToEndAsync())
            .Split('\n', StringSplitOptions.RemoveEmptyEntries);
        await check.WaitForExitAsync();

        // promtool parses the whole exposition; a format error ends its output with "error while linting". Its lint
        // also names conventions that the runtime's, Npgsql's and MassTransit's meters do not follow (a "_count"
        // gauge, milliseconds): those are theirs, listed in docs/observability.md. The worker's own must be clean.
        Assert.DoesNotContain(problems, p => p.Contains("error", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(problems, p => p.StartsWith("worker_", StringComparison.Ordinal));
        Assert.All(problems, p => Assert.Matches("^(dotnet|db_client|messaging_masstransit)_", p));
    }
}
