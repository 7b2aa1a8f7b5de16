using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;
using Npgsql;
using RabbitMQ.Client;
using Worker.IntegrationTests.Infrastructure;
using Worker.Messaging;
using Xunit.Abstractions;

namespace Worker.IntegrationTests.Reliability;

/// <summary>Publishes a <see cref="MixedCommandStream"/>, and checks every guarantee after it has been processed.</summary>
public abstract class StreamScenario(FaultFixture fixture, ITestOutputHelper output)
{
    protected FaultFixture Fixture { get; } = fixture;
    protected ITestOutputHelper Output { get; } = output;

    /// <summary>
    /// Publishes the stream in order with publisher confirms, each command <paramref name="copies"/> times with the
    /// same message id. A publish that fails while the broker is down is tried again until it is confirmed.
    /// </summary>
    /// <param name="partitioned">
    /// Through each operation's consistent-hash exchange with the document's key, as a scaled-out deployment's
    /// publishers do, instead of straight to the operation's queue.
    /// </param>
    protected async Task PublishAsync(MixedCommandStream stream, int copies = 1, Func<int, Task>? afterEach = null,
        bool partitioned = false)
    {
        var channel = await Fixture.OpenPublisherAsync();
        try
        {
            for (var i = 0; i < stream.Commands.Count; i++)
            {
                var command = stream.Commands[i];
                for (var copy = 0; copy < copies; copy++)
                {
                    for (var attempt = 1; ; attempt++)
                    {
                        try
                        {
                            var properties = new BasicProperties
                            {
                                ContentType = "application/json", MessageId = command.MessageId,
                                CorrelationId = command.CorrelationId, DeliveryMode = DeliveryModes.Persistent,
                            };
                            if (partitioned)
                                await channel.BasicPublishAsync(CommandPartitions.ExchangeOf(command.Queue), command.DocumentKey,
                                    mandatory: true, properties, command.Body);
                            else
                                await channel.BasicPublishAsync("", command.Queue, mandatory: true, properties, command.Body);
                            break;
                        }
                        catch (Exception e) when (attempt < 600 && e is not OperationCanceledException)
                        {
                            // The broker is restarting: a copy may have got through, which the inbox absorbs.
                            await Task.Delay(100);
                            if (channel.IsClosed)
                            {
                                await channel.DisposeAsync();
                                try { channel = await Fixture.OpenPublisherAsync(); } catch (Exception) { /* still down */ }
                            }
                        }
                    }
                }
                if (afterEach is not null) await afterEach(i);
            }
        }
        finally
        {
            await channel.DisposeAsync();
        }
    }

    /// <summary>
    /// Publishes the stream, paced to a pause after every 100 commands, while <paramref name="fault"/> runs beside it,
    /// so that the fault strikes a worker with commands in hand and more waiting in the queues.
    /// </summary>
    protected async Task PublishDuringAsync(MixedCommandStream stream, TimeSpan pauseEvery100, Func<Task> fault)
    {
        var faulting = Task.Run(fault);
        await PublishAsync(stream, afterEach: async i =>
        {
            if (i % 100 == 99) await Task.Delay(pauseEvery100);
        });
        await faulting;
    }

    /// <param name="whileWaiting">Run every 100 ms while results are missing (a supervisor's check, say).</param>
    protected async Task WaitForResultsAsync(MixedCommandStream stream, int each, TimeSpan timeout,
        Func<Task>? whileWaiting = null)
    {
        var ids = stream.Commands.Select(c => c.CorrelationId).ToList();
        var watch = Stopwatch.StartNew();
        var missing = Fixture.Results.CountMissing(ids, each);
        while (missing > 0 && watch.Elapsed < timeout)
        {
            await Task.Delay(100);
            if (whileWaiting is not null) await whileWaiting();
            missing = Fixture.Results.CountMissing(ids, each);
        }
        Output.WriteLine($"results arrived after {watch.Elapsed.TotalSeconds:F1} s; missing: {missing}");
        if (missing > 0)
        {
            // Where the unanswered commands are, to explain a failed guarantee.
            Output.WriteLine("unanswered: " + string.Join(", ",
                ids.Where(id => Fixture.Results.ResultsFor(id).Count < each).Take(10)));
            Output.WriteLine(await Fixture.Services.RabbitMqCtlAsync("list_queues", "name", "messages_ready",
                "messages_unacknowledged", "consumers"));
        }
    }

    /// <summary>
    /// Every command answered, every copy of an answer identical, and every answer as applying the stream's commands one
    /// by one in publish order gives (<see cref="MixedCommandStream"/>): its status, for a lead segment its body, and
    /// per lead segment an <c>updatedAt</c> that never goes back in publish order. Then the documents as that serial
    /// application leaves them, a consent history without gaps or repeats, and nothing in the error queues but the
    /// unreadable messages. A command applied out of its turn fails one of these, also in the middle of a stream.
    /// </summary>
    /// <param name="reordersAllowed">
    /// Several workers share one plain queue, so only the answers that do not depend on order are checked, and the
    /// documents only counted: whatever order they were applied in, no command may be lost or applied twice.
    /// </param>
    protected async Task AssertGuaranteesAsync(MixedCommandStream stream, int minimumResults, string fault,
        bool reordersAllowed = false)
    {
        var (lost, differing, results, wrongStatus, wrongBody, backInTime) = (0, 0, 0, 0, 0, 0);
        var lastUpdatedAt = new Dictionary<string, string>();
        foreach (var command in stream.Commands)
        {
            var answers = Fixture.Results.ResultsFor(command.CorrelationId);
            results += answers.Count;
            if (answers.Count < minimumResults) { lost++; continue; }
            if (answers.Select(a => a.Event.GetRawText()).Distinct().Count() > 1)
            {
                differing++;
                Output.WriteLine($"{command.CorrelationId} answered differently: {string.Join(" | ", answers.Select(a => a.Event.GetRawText()))}");
            }
            if (reordersAllowed && !command.StatusIgnoresOrder) continue;
            var answer = answers[0];
            if (answer.Status != command.ExpectedStatus)
            {
                wrongStatus++;
                Output.WriteLine($"{command.CorrelationId}: expected {command.ExpectedStatus}, got {answer.Status} {answer.Body}");
                continue;
            }
            if (reordersAllowed || command.Expected is not { } expected) continue;
            var data = answer.Body.GetProperty("data");
            var shown = new SegmentState(data.GetProperty("description").GetString(), HoursOf(data, "earliestCallbackHours"),
                HoursOf(data, "latestCallbackHours"));
            if (shown != expected)
            {
                wrongBody++;
                Output.WriteLine($"{command.CorrelationId} on {command.DocumentKey}: serial application gives {expected}, answered {shown}");
            }
            // Timestamps in the API's fixed-width ISO 8601 format compare as text.
            var updatedAt = data.GetProperty("updatedAt").GetString()!;
            if (lastUpdatedAt.TryGetValue(command.DocumentKey, out var before) && string.CompareOrdinal(updatedAt, before) < 0)
            {
                backInTime++;
                Output.WriteLine($"{command.CorrelationId} on {command.DocumentKey}: updatedAt {updatedAt} after {before} of the command published before it");
            }
            lastUpdatedAt[command.DocumentKey] = updatedAt;
        }

        var wrongDocuments = 0;
        foreach (var (id, expected) in stream.Segments)
        {
            var stored = await ReadAsync("mt_doc_leadsegment", MixedCommandStream.Enterprise, id);
            var state = new SegmentState(stored.GetProperty("description").GetString(), HoursOf(stored, "earliestCallbackHours"),
                HoursOf(stored, "latestCallbackHours"));
            if (state == expected) continue;
            wrongDocuments++;
            Output.WriteLine($"lead segment {id}: expected {expected}, stored {state}");
        }

        var (appliedTwice, brokenChains) = await CheckConsentHistoryAsync();
        foreach (var (account, expected) in stream.NewsletterByAccount)
        {
            var stored = await ReadAsync("mt_doc_account", "*DEFAULT*", account);
            var value = stored.GetProperty("marketingPermissions").TryGetProperty(MixedCommandStream.NewsletterPermission, out var v)
                ? v.GetBoolean() : (bool?)null;
            var history = await HistoryCountAsync(account);
            if (value != expected || history != stream.HistoryByAccount[account])
            {
                Output.WriteLine($"account {account}: expected {expected} after {stream.HistoryByAccount[account]} changes, stored {value} after {history}");
                await using var chain = Fixture.Database.CreateCommand(
                    "select data->>'correlationId', data->>'oldValue', data->>'newValue', data->>'changedAt' from mt_events where stream_id = $1 order by version");
                chain.Parameters.Add(new NpgsqlParameter { Value = account });
                await using var reader = await chain.ExecuteReaderAsync();
                var applied = new List<string>();
                while (await reader.ReadAsync()) applied.Add($"{reader.GetString(0)}:{reader.GetValue(1)}->{reader.GetString(2)}");
                Output.WriteLine("applied: " + string.Join(" ", applied));
                var sent = stream.Commands.Where(c => Encoding.UTF8.GetString(c.Body).Contains(account))
                    .Select(c => $"{c.CorrelationId}:{(Encoding.UTF8.GetString(c.Body).Contains("\"enabled\":true") ? "T" : Encoding.UTF8.GetString(c.Body).Contains("\"enabled\":false") ? "F" : "x")}");
                Output.WriteLine("sent: " + string.Join(" ", sent));
            }
            if (value != expected) wrongDocuments++;
            if (history != stream.HistoryByAccount[account]) wrongDocuments++;
        }

        // An unreadable command is answered first and moved to the error queue right after: give the move a moment.
        var errorBodies = new HashSet<string>();
        for (var waited = Stopwatch.StartNew(); errorBodies.Count < stream.UnreadableBodies.Count && waited.Elapsed < TimeSpan.FromSeconds(10);)
        {
            foreach (var message in await Fixture.DrainAsync(UpdateLeadSegment.Queue + "_error"))
                errorBodies.Add(Encoding.UTF8.GetString(message.Body.Span));
            if (errorBodies.Count < stream.UnreadableBodies.Count) await Task.Delay(100);
        }
        var otherErrors = (await Fixture.DrainAsync(UpdateMarketingPermissions.Queue + "_error")).Count;

        Output.WriteLine($"{fault}: commands {stream.Commands.Count}, results {results}, lost {lost}, " +
            $"answered differently {differing}, out of serial order: status {wrongStatus}, body {wrongBody}, " +
            $"updatedAt back in time {backInTime}; wrong documents {wrongDocuments}, applied twice {appliedTwice}, " +
            $"history chains broken {brokenChains}, " +
            $"error queue {errorBodies.Count} (expected {stream.UnreadableBodies.Count}) + {otherErrors}");
        Assert.Equal(0, lost);
        Assert.Equal(0, differing);
        Assert.Equal(0, wrongStatus);
        Assert.Equal(0, wrongBody);
        Assert.Equal(0, backInTime);
        if (!reordersAllowed) Assert.Equal(0, wrongDocuments);
        Assert.Equal(0, appliedTwice);
        Assert.Equal(0, brokenChains);
        Assert.Equal(stream.UnreadableBodies, errorBodies);
        Assert.Equal(0, otherErrors);
    }

    /// <summary>
    /// A command applied twice shows up twice in the consent history; a lost update shows up as an entry whose old
    /// value is not the new value of the entry before it.
    /// </summary>
    async Task<(int AppliedTwice, int BrokenChains)> CheckConsentHistoryAsync()
    {
        await using var command = Fixture.Database.CreateCommand("""
            select stream_id, data->>'correlationId', data->>'oldValue', data->>'newValue'
              from mt_events where type = 'consent_changed' order by stream_id, version
            """);
        await using var reader = await command.ExecuteReaderAsync();
        var seen = new HashSet<string>();
        var (appliedTwice, broken) = (0, 0);
        string? account = null, previousNew = null;
        while (await reader.ReadAsync())
        {
            if (!seen.Add(reader.GetString(1))) appliedTwice++;
            var old = reader.IsDBNull(2) ? null : reader.GetString(2);
            if (reader.GetString(0) == account && old != previousNew) broken++;
            (account, previousNew) = (reader.GetString(0), reader.GetString(3));
        }
        return (appliedTwice, broken);
    }

    static int? HoursOf(JsonElement segment, string field) =>
        segment.TryGetProperty(field, out var hours) && hours.ValueKind == JsonValueKind.Number ? hours.GetInt32() : null;

    protected async Task<JsonElement> ReadAsync(string table, string tenant, string id)
    {
        await using var command = Fixture.Database.CreateCommand($"select data::text from {table} where tenant_id = $1 and id::text = $2");
        command.Parameters.Add(new NpgsqlParameter { Value = tenant });
        command.Parameters.Add(new NpgsqlParameter { Value = id });
        return JsonDocument.Parse((string)(await command.ExecuteScalarAsync())!).RootElement.Clone();
    }

    protected async Task<int> HistoryCountAsync(string account)
    {
        await using var command = Fixture.Database.CreateCommand("select count(*) from mt_events where stream_id = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = account });
        return (int)(long)(await command.ExecuteScalarAsync())!;
    }
}
