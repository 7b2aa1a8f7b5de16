using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Contracts.LeadSegments;
using Worker.IntegrationTests.Infrastructure;
using Worker.IntegrationTests.LeadSegments;
using Worker.Observability;

namespace Worker.IntegrationTests.Replies;

/// <summary>
/// RabbitMQ's RPC pattern, as plain AMQP clients use it: a command with <c>reply_to</c> (a queue of the requester's own,
/// or direct reply-to) and a <c>correlation_id</c> is answered there with the result event's own bytes, besides the
/// result exchanges, which carry the answer as always.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class PlainReplyTests(WorkerFixture fixture) : IAsyncLifetime
{
    public Task InitializeAsync() => fixture.ResetAsync();
    public Task DisposeAsync() => Task.CompletedTask;

    [Theory]
    [MemberData(nameof(ReplyExamples.Names), MemberType = typeof(ReplyExamples))]
    public async Task A_command_with_reply_to_a_queue_is_answered_there_with_the_result_events_bytes(string name)
    {
        var example = ReplyExamples.Named(name);
        await using var client = await ReplyClient.StartAsync(fixture.Services.RabbitMq, ownQueue: true);
        var (correlationId, messageId) = (Guid.NewGuid().ToString(), Guid.NewGuid());

        await client.SendAsync("", example.Queue, example.Command(correlationId), correlationId, messageId.ToString());

        var reply = await client.WaitForAsync(correlationId);
        var result = await fixture.Results.WaitForCommandAsync(messageId);
        Assert.Equal((example.Exchange, example.Status, example.Code), (result.Exchange, result.Status, CommandAnswers.CodeOf(result.Body)));
        AssertIsTheResultEvent(reply, result, correlationId, messageId);
    }

    [Theory]
    [InlineData("lead-segment-updated")]
    [InlineData("lead-segment-code-in-use")]
    public async Task A_command_with_direct_reply_to_is_answered_on_the_requesters_channel(string name)
    {
        var example = ReplyExamples.Named(name);
        await using var client = await ReplyClient.StartAsync(fixture.Services.RabbitMq);
        var (correlationId, messageId) = (Guid.NewGuid().ToString(), Guid.NewGuid());

        await client.SendAsync("", example.Queue, example.Command(correlationId), correlationId, messageId.ToString());

        var reply = await client.WaitForAsync(correlationId);
        AssertIsTheResultEvent(reply, await fixture.Results.WaitForCommandAsync(messageId), correlationId, messageId);
    }

    [Fact]
    public async Task A_nodejs_requester_with_direct_reply_to_gets_its_reply_with_its_correlation_id()
    {
        var example = ReplyExamples.Named("marketing-permissions-updated");
        var correlationId = $"node-{Guid.NewGuid():N}";

        var start = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
            WorkingDirectory = Path.Combine(LocalServices.RepositoryRoot(), "tools", "amqp-rpc"),
        };
        foreach (var argument in new[]
                 {
                     "rpc.mjs", fixture.Services.RabbitMq, example.Queue, correlationId,
                     Encoding.UTF8.GetString(example.Command(correlationId)),
                 })
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"no reply for the Node.js requester: {await errors}");

        var reply = JsonDocument.Parse(await output).RootElement;
        Assert.Equal(correlationId, reply.GetProperty("correlationId").GetString());
        Assert.Equal("application/json", reply.GetProperty("contentType").GetString());
        Assert.Equal(example.Exchange, reply.GetProperty("type").GetString());
        var body = Convert.FromBase64String(reply.GetProperty("body").GetString()!);
        var result = await fixture.Results.WaitForAsync(correlationId);
        Assert.Equal(Encoding.UTF8.GetString(result.Raw), Encoding.UTF8.GetString(body));
    }

    [Fact]
    public async Task The_same_command_sent_twice_is_answered_twice_identically_and_applied_once()
    {
        var example = ReplyExamples.Named("lead-segment-updated");
        await using var client = await ReplyClient.StartAsync(fixture.Services.RabbitMq, ownQueue: true);
        var (correlationId, messageId) = (Guid.NewGuid().ToString(), Guid.NewGuid());

        await client.SendAsync("", example.Queue, example.Command(correlationId), correlationId, messageId.ToString());
        var first = await client.WaitForAsync(correlationId);
        var stored = await fixture.SnapshotAsync(LeadSegmentScenario.Table);
        client.Forget(correlationId);
        await client.SendAsync("", example.Queue, example.Command(correlationId), correlationId, messageId.ToString());
        var second = await client.WaitForAsync(correlationId);

        Assert.Equal(Encoding.UTF8.GetString(first.Raw), Encoding.UTF8.GetString(second.Raw));
        Assert.Equal(first.Properties.MessageId, second.Properties.MessageId);
        Assert.Equal(first.Properties.Type, second.Properties.Type);
        Assert.Equal(stored, await fixture.SnapshotAsync(LeadSegmentScenario.Table));
        var results = await fixture.Results.WaitForAsync(correlationId, 2);
        Assert.All(results, result => Assert.Equal(Encoding.UTF8.GetString(first.Raw), Encoding.UTF8.GetString(result.Raw)));
    }

    [Fact]
    public async Task An_unreadable_command_with_a_reply_address_gets_its_400_there()
    {
        await using var client = await ReplyClient.StartAsync(fixture.Services.RabbitMq, ownQueue: true);
        var correlationId = Guid.NewGuid().ToString();

        await client.SendAsync("", UpdateLeadSegment.Queue, WorkerFixture.Utf8("this is not JSON"), correlationId);

        var reply = await client.WaitForAsync(correlationId);
        var result = await fixture.Results.WaitForAsync(correlationId);
        Assert.Equal((LeadSegmentUpdateFailed.Exchange, 400), (result.Exchange, result.Status));
        Assert.Equal(LeadSegmentErrors.InvalidCommand, CommandAnswers.CodeOf(result.Body));
        Assert.Equal(Encoding.UTF8.GetString(result.Raw), Encoding.UTF8.GetString(reply.Raw));
        Assert.Equal(correlationId, reply.Properties.CorrelationId);
        Assert.Single(await fixture.WaitForErrorQueueAsync(UpdateLeadSegment.Queue));
    }

    [Fact]
    public async Task A_reply_address_that_is_gone_costs_nothing_and_the_documents_next_command_goes_on()
    {
        // One requester gave up before its answer (its exclusive queue is gone); another never had a queue at all.
        string gone;
        await using (var client = await ReplyClient.StartAsync(fixture.Services.RabbitMq, ownQueue: true)) gone = client.ReplyTo;
        var (first, second, third) = ($"gone-{Guid.NewGuid():N}", $"never-{Guid.NewGuid():N}", $"next-{Guid.NewGuid():N}");
        await fixture.SendRawAsync(UpdateLeadSegment.Queue, LeadSegment(first, "GONE1"), correlationId: first, replyTo: gone);
        await fixture.SendRawAsync(UpdateLeadSegment.Queue, LeadSegment(second, "GONE2"), correlationId: second,
            replyTo: $"no-such-queue-{Guid.NewGuid():N}");
        await fixture.SendRawAsync(UpdateLeadSegment.Queue, LeadSegment(third, "GONE3"), correlationId: third);

        foreach (var correlationId in new[] { first, second, third })
            Assert.Equal(200, (await fixture.Results.WaitForAsync(correlationId)).Status);
        // In the document's order, so a retried reply of the first two would have been answered again by now.
        Assert.All(new[] { first, second, third }, id => Assert.Single(fixture.Results.ResultsFor(id)));
        var stored = await fixture.ReadDocumentAsync(LeadSegmentScenario.Table, "acme", "1234");
        Assert.Equal("GONE3", stored!.Value.GetProperty("code").GetString());
        Assert.Empty(await fixture.DrainAsync(UpdateLeadSegment.Queue + "_error"));
        Assert.DoesNotContain(fixture.Logs.Entries, entry => entry.Level >= Microsoft.Extensions.Logging.LogLevel.Warning
            && (entry.Message.Contains(first, StringComparison.Ordinal) || entry.Message.Contains(second, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task An_envelope_whose_request_id_is_not_a_guid_is_answered_400_as_unreadable_and_changes_nothing()
    {
        var correlationId = $"bad-request-id-{Guid.NewGuid():N}";
        var envelope = JsonSerializer.SerializeToUtf8Bytes(new
        {
            messageId = Guid.NewGuid(), requestId = "not-a-guid", responseAddress = "rabbitmq://localhost/nobody-listens",
            messageType = new[] { "urn:message:Contracts.LeadSegments:UpdateLeadSegment" },
            message = new { correlationId, enterprise = "acme", id = "1234", body = new { code = "BADREQ" } },
        });
        var stored = await fixture.SnapshotAsync(LeadSegmentScenario.Table);

        await fixture.SendRawAsync(UpdateLeadSegment.Queue, envelope, "application/vnd.masstransit+json");

        // MassTransit cannot read the envelope (it fails on the requestId before any consumer), so it is unreadable.
        var result = await fixture.Results.WaitForAsync(correlationId);
        Assert.Equal((LeadSegmentUpdateFailed.Exchange, 400), (result.Exchange, result.Status));
        Assert.Contains("requestId is not a GUID", result.Body.GetProperty("errors")[0].GetProperty("message").GetString());
        Assert.Single(await fixture.WaitForErrorQueueAsync(UpdateLeadSegment.Queue));
        Assert.Equal(stored, await fixture.SnapshotAsync(LeadSegmentScenario.Table));
    }

    static byte[] LeadSegment(string correlationId, string code) => JsonSerializer.SerializeToUtf8Bytes(new
    {
        correlationId, enterprise = "acme", id = "1234", body = new { code },
    });

    static void AssertIsTheResultEvent(ReceivedReply reply, ReceivedResult result, string correlationId, Guid messageId)
    {
        Assert.Equal(Encoding.UTF8.GetString(result.Raw), Encoding.UTF8.GetString(reply.Raw));
        Assert.Equal(correlationId, reply.Properties.CorrelationId);
        Assert.Equal("application/json", reply.Properties.ContentType);
        Assert.Equal(result.Exchange, reply.Properties.Type);
        Assert.True(Guid.TryParse(reply.Properties.MessageId, out var replyId), $"message id {reply.Properties.MessageId}");
        Assert.NotEqual(messageId, replyId);
    }
}
