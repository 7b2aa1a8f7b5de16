using System.Text;
using Contracts.LeadSegments;
using MassTransit;
using Worker.IntegrationTests.Infrastructure;
using Worker.LeadSegments;

namespace Worker.IntegrationTests.LeadSegments;

[Collection(WorkerCollection.Name)]
public sealed class UnreadableLeadSegmentCommandTests(WorkerFixture fixture) : LeadSegmentScenario(fixture)
{
    [Theory]
    [InlineData("this is not json {", "application/json")]
    [InlineData("{\"correlationId\": \"x\", \"enterprise\": \"acme\"", "application/json")]
    [InlineData("", "application/json")]
    [InlineData("{\"enterprise\": 5, \"id\": \"1234\", \"body\": {}}", "application/json")]
    [InlineData("{\"enterprise\": \"acme\", \"id\": \"1234\", \"body\": {\"code\": \"X\"}}", "text/plain")]
    public async Task An_unreadable_message_gets_a_400_and_is_kept_in_the_error_queue(string body, string contentType)
    {
        var before = await Fixture.SnapshotAsync(Table);
        var correlationId = Guid.NewGuid().ToString();
        var bytes = Encoding.UTF8.GetBytes(body);

        await Fixture.SendRawAsync(UpdateLeadSegment.Queue, bytes, contentType, correlationId: correlationId);

        var error = Assert.Single(Errors(await Fixture.Results.WaitForAsync(correlationId), 400));
        Assert.Equal(LeadSegmentErrors.InvalidCommand, error.GetProperty("code").GetString());
        var kept = Assert.Single(await Fixture.WaitForErrorQueueAsync(UpdateLeadSegment.Queue));
        Assert.Equal(bytes, kept.Body.ToArray());
        Assert.Equal(before, await Fixture.SnapshotAsync(Table));

        // The worker goes on: the next command is answered as usual.
        Data(await UpdateAsync("acme", "1234", new { code = "AFTER" }));
        Assert.Single(Fixture.Results.ResultsFor(correlationId));
    }

    [Fact]
    public async Task An_envelope_of_a_type_the_queue_does_not_take_gets_a_400_and_is_kept_in_the_skipped_queue()
    {
        var before = await Fixture.SnapshotAsync(Table);
        var correlationId = Guid.NewGuid().ToString();
        var bytes = Encoding.UTF8.GetBytes(
            $$$"""{"messageId":"{{{Guid.NewGuid()}}}","messageType":["urn:message:Contracts:NotACommand"],"message":{"correlationId":"{{{correlationId}}}"}}""");

        await Fixture.SendRawAsync(UpdateLeadSegment.Queue, bytes, "application/vnd.masstransit+json");

        var error = Assert.Single(Errors(await Fixture.Results.WaitForAsync(correlationId), 400));
        Assert.Equal(LeadSegmentErrors.InvalidCommand, error.GetProperty("code").GetString());
        List<RabbitMQ.Client.BasicGetResult> kept = [];
        for (var attempt = 0; attempt < 100 && kept.Count == 0; attempt++)
        {
            // The skipped queue appears with its first message.
            try { kept = await Fixture.DrainAsync(UpdateLeadSegment.Queue + "_skipped"); }
            catch (RabbitMQ.Client.Exceptions.OperationInterruptedException) { }
            if (kept.Count == 0) await Task.Delay(50);
        }
        Assert.Equal(bytes, Assert.Single(kept).Body.ToArray());
        Assert.Equal(before, await Fixture.SnapshotAsync(Table));
        Data(await UpdateAsync("acme", "1234", new { code = "AFTERSKIP" }));
    }

    [Fact]
    public async Task An_envelope_whose_message_id_is_not_a_GUID_gets_a_400_and_is_kept_in_the_error_queue()
    {
        var before = await Fixture.SnapshotAsync(Table);
        var correlationId = Guid.NewGuid().ToString();
        var command = new { correlationId, enterprise = "acme", id = "1234", body = new { code = "NOTAGUID" } };
        var bytes = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new
        {
            messageId = "abc-" + correlationId, messageType = new[] { "urn:message:Contracts.LeadSegments:UpdateLeadSegment" },
            message = command,
        });

        await Fixture.SendRawAsync(UpdateLeadSegment.Queue, bytes, "application/vnd.masstransit+json");

        var result = await Fixture.Results.WaitForAsync(correlationId);
        var error = Assert.Single(Errors(result, 400));
        Assert.Equal(LeadSegmentErrors.InvalidCommand, error.GetProperty("code").GetString());
        Assert.Equal(bytes, Assert.Single(await Fixture.WaitForErrorQueueAsync(UpdateLeadSegment.Queue)).Body.ToArray());
        Assert.Equal(before, await Fixture.SnapshotAsync(Table));
        // One line for the failed command, and no stack trace from the worker's own code (MassTransit's own R-FAULT
        // line for a message it could not deserialize is still there).
        Assert.Single(Fixture.Logs.Entries, e => e.Values.TryGetValue("CorrelationId", out var id) && id as string == correlationId);
        Assert.DoesNotContain(Fixture.Logs.Entries, e => e.Category.StartsWith("Worker") && e.Exception is not null
            && e.Exception.ToString().Contains("not a Guid"));
    }

    [Fact]
    public async Task Binary_garbage_does_not_loop_or_stop_the_worker()
    {
        var correlationId = Guid.NewGuid().ToString();
        await Fixture.SendRawAsync(UpdateLeadSegment.Queue, [0xff, 0xfe, 0x00, 0x01, 0xc3, 0x28], correlationId: correlationId);

        Errors(await Fixture.Results.WaitForAsync(correlationId), 400);
        Assert.Single(await Fixture.WaitForErrorQueueAsync(UpdateLeadSegment.Queue));
        await Task.Delay(500);
        Assert.Single(Fixture.Results.ResultsFor(correlationId));
        Data(await UpdateAsync("acme", "1234", new { code = "STILLHERE" }));
    }

    [Fact]
    public async Task A_MassTransit_envelope_from_a_dotnet_publisher_is_accepted()
    {
        // A separate bus with MassTransit's default envelope serializer, as a .NET upstream service has it.
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.Host(new Uri(Fixture.Services.RabbitMq)));
        await bus.StartAsync();
        try
        {
            var correlationId = Guid.NewGuid().ToString();
            var endpoint = await bus.GetSendEndpoint(new Uri($"queue:{UpdateLeadSegment.Queue}"));
            await endpoint.Send(UpdateLeadSegment.Create(correlationId, "acme", "1234",
                new LeadSegmentChanges().Code("ENVELOPED").Description(null)));

            var data = Data(await Fixture.Results.WaitForAsync(correlationId));
            Assert.Equal("ENVELOPED", data.GetProperty("code").GetString());
            Assert.Equal(System.Text.Json.JsonValueKind.Null, data.GetProperty("description").ValueKind);
        }
        finally
        {
            await bus.StopAsync();
        }
    }
}
