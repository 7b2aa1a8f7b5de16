using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Worker.DemoData;
using Contracts.LeadSegments;
using RabbitMQ.Client;
using Worker.IntegrationTests.Infrastructure;
using Worker.IntegrationTests.Security;
using Xunit.Abstractions;

namespace Worker.IntegrationTests.Redrive;

/// <summary>
/// <c>worker redrive</c>, run as an operator runs it, after a bug (a trigger that refuses one lead segment's writes)
/// sent commands to the error queue and was fixed: the commands are applied in the order they failed, a command a
/// later one overtook is answered as superseded unless the operator says otherwise, and a re-drive killed half-way
/// and run again loses and doubles nothing.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class RedriveTests(WorkerFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    const string Enterprise = "acme";
    const string Segment = "1234";
    static readonly string ErrorQueue = UpdateLeadSegment.Queue + "_error";

    public async Task InitializeAsync()
    {
        await fixture.ResetAsync();
        await PurgeErrorQueuesAsync();
    }

    public async Task DisposeAsync()
    {
        await FixBugAsync();
        await PurgeErrorQueuesAsync();
    }

    /// <summary>The bug: every write of the lead segment fails while the database answers.</summary>
    async Task BreakWritesAsync()
    {
        await using var command = fixture.Database.CreateCommand($"""
            create or replace function test_redrive_bug() returns trigger language plpgsql as $$
            begin
                if new.id::text = '{Segment}' then raise exception 'injected bug'; end if;
                return new;
            end $$;
            drop trigger if exists test_redrive_bug on mt_doc_leadsegment;
            create trigger test_redrive_bug before update on mt_doc_leadsegment for each row execute function test_redrive_bug();
            """);
        await command.ExecuteNonQueryAsync();
    }

    async Task FixBugAsync()
    {
        await using var command = fixture.Database.CreateCommand("drop trigger if exists test_redrive_bug on mt_doc_leadsegment");
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>The lead segment's error queue (its partitions share it), emptied.</summary>
    async Task PurgeErrorQueuesAsync() => await fixture.DrainAsync(ErrorQueue);

    async Task<uint> ErrorQueueDepthAsync()
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(fixture.Services.RabbitMq) }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        return await channel.MessageCountAsync(ErrorQueue);
    }

    Task SendAsync(string correlationId, object body) =>
        fixture.SendJsonAsync(UpdateLeadSegment.Queue, new { correlationId, enterprise = Enterprise, id = Segment, body });

    /// <summary>Sends the commands while the bug is on: each is answered 500 and kept in the error queue.</summary>
    async Task FailAsync(params (string CorrelationId, object Body)[] commands)
    {
        await BreakWritesAsync();
        foreach (var (correlationId, body) in commands) await SendAsync(correlationId, body);
        foreach (var (correlationId, _) in commands) Assert.Equal(500, (await fixture.Results.WaitForAsync(correlationId)).Status);
        for (var waited = Stopwatch.StartNew(); await ErrorQueueDepthAsync() < commands.Length && waited.Elapsed < TimeSpan.FromSeconds(10);)
            await Task.Delay(50);
        Assert.Equal((uint)commands.Length, await ErrorQueueDepthAsync());
        await FixBugAsync();
    }

    async Task<(int ExitCode, string Output)> RedriveAsync(params string[] options)
    {
        var (exitCode, stdout, stderr) = await ProgramRun.RunAsync("Worker.dll", ["redrive", .. options],
            new Dictionary<string, string>
            {
                ["ConnectionStrings__RabbitMq"] = fixture.Services.RabbitMq,
                ["ConnectionStrings__Postgres"] = fixture.Services.Postgres,
            });
        output.WriteLine($"redrive {string.Join(' ', options)} -> {exitCode}\n{stdout}{stderr}");
        return (exitCode, stdout + stderr);
    }

    async Task<JsonElement> StoredSegmentAsync() =>
        (await fixture.ReadDocumentAsync("mt_doc_leadsegment", Enterprise, Segment))!.Value;

    [Fact]
    public async Task Commands_a_fixed_bug_failed_are_re_driven_and_applied_in_the_order_they_failed()
    {
        await FailAsync(("redrive-1", new { description = "re-driven" }), ("redrive-2", new { earliestCallbackHours = 3 }));

        var copy = await PeekErrorQueueAsync();
        var (listed, list) = await RedriveAsync("--dry-run");
        Assert.Equal(0, listed);
        Assert.Equal(2, list.Split('\n').Count(line => line.Contains($"{Enterprise}/{Segment}") && line.Contains("not superseded")));
        Assert.Contains("injected bug", list);
        Assert.Contains("2 command(s) would go back", list);
        Assert.Equal(2u, await ErrorQueueDepthAsync());

        var (exitCode, said) = await RedriveAsync();
        Assert.Equal(0, exitCode);
        Assert.Contains("2 command(s) sent back", said);
        var first = (await fixture.Results.WaitForAsync("redrive-1", 2))[1];
        var second = (await fixture.Results.WaitForAsync("redrive-2", 2))[1];
        Assert.Equal((200, 200), (first.Status, second.Status));
        // In the order they failed: the second sees the first applied.
        var data = second.Body.GetProperty("data");
        Assert.Equal(("re-driven", 3), (data.GetProperty("description").GetString(), data.GetProperty("earliestCallbackHours").GetInt32()));
        var stored = await StoredSegmentAsync();
        Assert.Equal(("re-driven", 3), (stored.GetProperty("description").GetString(), stored.GetProperty("earliestCallbackHours").GetInt32()));
        Assert.Equal(0u, await ErrorQueueDepthAsync());

        // A re-drive cut off between the broker's confirm and its acknowledgement leaves the command in the error
        // queue although its copy was answered: the next re-drive finds its message id in the inbox and only drops it.
        await fixture.SendRawAsync(ErrorQueue, copy.Body.ToArray(), messageId: copy.BasicProperties.MessageId,
            headers: copy.BasicProperties.Headers);
        var (again, dropped) = await RedriveAsync();
        Assert.Equal(0, again);
        Assert.Contains("0 command(s) sent back, 1 already answered and dropped", dropped);
        await Task.Delay(500);
        Assert.Equal(2, fixture.Results.ResultsFor("redrive-1").Count);
        Assert.Equal(0u, await ErrorQueueDepthAsync());
    }

    /// <summary>The first command of the error queue as it is there, left in place.</summary>
    async Task<BasicGetResult> PeekErrorQueueAsync()
    {
        await using var connection = await new ConnectionFactory { Uri = new Uri(fixture.Services.RabbitMq) }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        var first = await channel.BasicGetAsync(ErrorQueue, autoAck: false);
        Assert.NotNull(first);
        await channel.BasicNackAsync(first.DeliveryTag, multiple: false, requeue: true);
        return first;
    }

    [Fact]
    public async Task A_command_a_later_one_overtook_is_answered_as_superseded_and_applied_only_when_the_operator_asks()
    {
        await FailAsync(("overtaken", new { description = "older" }));
        await SendAsync("later", new { description = "newer" });
        Assert.Equal(200, (await fixture.Results.WaitForAsync("later")).Status);

        var (_, list) = await RedriveAsync("--dry-run");
        Assert.Contains("superseded: its document changed at", list);

        Assert.Equal(0, (await RedriveAsync()).ExitCode);
        var answer = (await fixture.Results.WaitForAsync("overtaken", 2))[1];
        Assert.Equal(409, answer.Status);
        var error = Assert.Single(answer.Body.GetProperty("errors").EnumerateArray());
        Assert.Equal(LeadSegmentErrors.CommandSuperseded, error.GetProperty("code").GetString());
        Assert.Equal("newer", (await StoredSegmentAsync()).GetProperty("description").GetString());

        // The same again, and this time the operator wants the older change applied over the newer one.
        await FailAsync(("overtaken-again", new { description = "older again" }));
        await SendAsync("later-again", new { description = "newer again" });
        Assert.Equal(200, (await fixture.Results.WaitForAsync("later-again")).Status);
        Assert.Equal(0, (await RedriveAsync("--apply-superseded")).ExitCode);
        Assert.Equal(200, (await fixture.Results.WaitForAsync("overtaken-again", 2))[1].Status);
        Assert.Equal("older again", (await StoredSegmentAsync()).GetProperty("description").GetString());
    }

    [Fact]
    public async Task Filters_and_a_limit_leave_the_rest_in_place_in_order_and_the_exit_code_says_so()
    {
        await FailAsync(("limited-1", new { description = "one" }), ("limited-2", new { description = "two" }),
            ("limited-3", new { description = "three" }));

        var (none, nothing) = await RedriveAsync("--document", "acme/nothing-here");
        Assert.Equal(0, none);
        Assert.Contains("0 command(s) sent back", nothing);
        Assert.Equal(3u, await ErrorQueueDepthAsync());

        var (exitCode, said) = await RedriveAsync("--limit", "1");
        Assert.Equal(3, exitCode);
        Assert.Contains("1 command(s) sent back", said);
        Assert.Equal("one", (await fixture.Results.WaitForAsync("limited-1", 2))[1].Body.GetProperty("data").GetProperty("description").GetString());
        // The other two stayed, in their order: the next re-drive applies two, then three.
        Assert.Equal(2u, await ErrorQueueDepthAsync());
        Assert.Equal(0, (await RedriveAsync("--since", DateTimeOffset.UtcNow.AddHours(-1).ToString("O"))).ExitCode);
        await fixture.Results.WaitForAsync("limited-3", 2);
        Assert.Equal("three", (await StoredSegmentAsync()).GetProperty("description").GetString());

        var (refused, why) = await RedriveAsync("--limit", "none");
        Assert.Equal(78, refused);
        Assert.Contains("--limit none is not a positive number", why);
    }

    [Fact]
    public async Task A_redrive_killed_half_way_and_run_again_loses_and_doubles_nothing()
    {
        // 10 segments of their own, 20 commands each, all failed by the bug in publish order.
        const int Segments = 10, PerSegment = 20, Count = Segments * PerSegment;
        var seed = Path.Combine(Path.GetTempPath(), $"redrive-seed-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(seed, JsonSerializer.Serialize(new
        {
            leadSegments = Enumerable.Range(0, Segments).Select(k => new
            {
                enterprise = Enterprise, id = $"redrive-{k}", code = $"REDRIVE{k}", description = "start",
                createdAt = "2024-01-01T00:00:00.000Z", updatedAt = "2024-01-01T00:00:00.000Z",
            }),
        }));
        await fixture.Worker.Services.GetRequiredService<DemoDataImport>().ImportAsync(seed, overwrite: true, CancellationToken.None);
        File.Delete(seed);
        await using (var bug = fixture.Database.CreateCommand("""
            create or replace function test_redrive_bug() returns trigger language plpgsql as $$
            begin
                if new.id::text like 'redrive-%' then raise exception 'injected bug'; end if;
                return new;
            end $$;
            drop trigger if exists test_redrive_bug on mt_doc_leadsegment;
            create trigger test_redrive_bug before update on mt_doc_leadsegment for each row execute function test_redrive_bug();
            """))
        {
            await bug.ExecuteNonQueryAsync();
        }
        var commands = Enumerable.Range(0, PerSegment).SelectMany(i => Enumerable.Range(0, Segments)
            .Select(k => (Id: $"kill-{k}-{i}", Segment: $"redrive-{k}", Description: $"{k}-{i}"))).ToList();
        foreach (var command in commands)
            await fixture.SendJsonAsync(UpdateLeadSegment.Queue, new
            {
                correlationId = command.Id, enterprise = Enterprise, id = command.Segment, body = new { description = command.Description },
            });
        foreach (var command in commands) Assert.Equal(500, (await fixture.Results.WaitForAsync(command.Id, TimeSpan.FromMinutes(2))).Status);
        for (var waited = Stopwatch.StartNew(); await ErrorQueueDepthAsync() < Count && waited.Elapsed < TimeSpan.FromSeconds(10);)
            await Task.Delay(50);
        Assert.Equal((uint)Count, await ErrorQueueDepthAsync());
        await FixBugAsync();

        // The re-drive is killed (SIGKILL) once it has sent some, and run again.
        var redrive = Process.Start(new ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "Worker.dll"), "redrive"])
        {
            WorkingDirectory = AppContext.BaseDirectory, RedirectStandardOutput = true, RedirectStandardError = true,
            Environment =
            {
                ["ConnectionStrings__RabbitMq"] = fixture.Services.RabbitMq, ["ConnectionStrings__Postgres"] = fixture.Services.Postgres,
            },
        })!;
        uint depth;
        await using (var connection = await new ConnectionFactory { Uri = new Uri(fixture.Services.RabbitMq) }.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
        {
            while ((depth = await channel.MessageCountAsync(ErrorQueue)) > Count - 20 && !redrive.HasExited) { }
            redrive.Kill();
            await redrive.WaitForExitAsync();
            depth = await channel.MessageCountAsync(ErrorQueue);
        }
        output.WriteLine($"killed with {depth} of {Count} commands left in the error queue");
        Assert.InRange(depth, 1u, (uint)Count - 1);
        var (exitCode, said) = await RedriveAsync();
        Assert.Equal(0, exitCode);

        // Every command answered once more, and only ever the same way: applied once, in the order it failed.
        foreach (var command in commands) await fixture.Results.WaitForAsync(command.Id, 2, TimeSpan.FromMinutes(2));
        await Task.Delay(500);
        var lastUpdatedAt = new Dictionary<string, string>();
        foreach (var command in commands)
        {
            var again = fixture.Results.ResultsFor(command.Id).Skip(1).ToList();
            Assert.Single(again.Select(a => a.Body.GetRawText()).Distinct());
            Assert.Equal(200, again[0].Status);
            var data = again[0].Body.GetProperty("data");
            Assert.Equal(command.Description, data.GetProperty("description").GetString());
            var updatedAt = data.GetProperty("updatedAt").GetString()!;
            if (lastUpdatedAt.TryGetValue(command.Segment, out var before)) Assert.True(string.CompareOrdinal(updatedAt, before) >= 0,
                $"{command.Id} applied at {updatedAt}, before the segment's previous command ({before})");
            lastUpdatedAt[command.Segment] = updatedAt;
        }
        for (var k = 0; k < Segments; k++)
        {
            var stored = (await fixture.ReadDocumentAsync("mt_doc_leadsegment", Enterprise, $"redrive-{k}"))!.Value;
            Assert.Equal($"{k}-{PerSegment - 1}", stored.GetProperty("description").GetString());
        }
        Assert.Equal(0u, await ErrorQueueDepthAsync());
    }
}
