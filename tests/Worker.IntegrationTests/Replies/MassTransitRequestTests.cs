using System.Text.Json;
using Contracts.LeadSegments;
using Worker.IntegrationTests.Infrastructure;
using Worker.IntegrationTests.LeadSegments;
using Worker.Observability;

namespace Worker.IntegrationTests.Replies;

/// <summary>
/// A .NET service of another team calling the worker with MassTransit's request client, as the UpdateWorker.Contracts
/// README shows, on the packed package (tests/PackageUser): its commands go to the partitioned exchanges, and
/// <c>GetResponse&lt;TUpdated, TUpdateFailed&gt;</c> gets the worker's answer, the same the result exchanges carry.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class MassTransitRequestTests(WorkerFixture fixture) : IAsyncLifetime
{
    public Task InitializeAsync() => fixture.ResetAsync();
    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>The package app's name for the operation of a queue.</summary>
    internal static string OperationOf(string queue) => queue["update-".Length..];

    /// <summary>The line the package app reads: the example's command with its own correlation and message ids.</summary>
    internal static object Request(ReplyExamples.Example example, string correlationId, Guid messageId, string? operation = null) => new
    {
        operation = operation ?? OperationOf(example.Queue),
        command = JsonDocument.Parse(example.Command(correlationId)).RootElement,
        messageId,
    };

    [Fact]
    public async Task Each_operation_is_answered_as_succeeded_and_as_failed_with_the_documented_status_and_body()
    {
        await using var client = await PackagedClient.StartAsync("requests", fixture.Services.RabbitMq);
        foreach (var example in ReplyExamples.All)
        {
            await fixture.ResetAsync();
            var (correlationId, messageId) = (Guid.NewGuid().ToString(), Guid.NewGuid());
            await client.WriteAsync(Request(example, correlationId, messageId));
            Assert.Equal(OperationOf(example.Queue), (await client.ReadAsync()).GetProperty("sending").GetString());

            var answer = await client.ReadAsync();
            var published = await fixture.Results.WaitForCommandAsync(messageId);
            Assert.True(answer.TryGetProperty("result", out var result), $"{example}: {answer}");
            Assert.Equal(ResultType(example.Exchange), answer.GetProperty("type").GetString());
            Assert.Equal((example.Status, example.Code), (result.GetProperty("status").GetInt32(), CommandAnswers.CodeOf(result.GetProperty("body"))));
            AssertSameAnswer(published.Event, result, example.Name);
        }
    }

    [Fact]
    public async Task A_command_sent_to_another_operations_exchange_is_answered_400_at_the_request_client()
    {
        await using var client = await PackagedClient.StartAsync("requests", fixture.Services.RabbitMq);
        var (correlationId, messageId) = (Guid.NewGuid().ToString(), Guid.NewGuid());

        await client.WriteAsync(Request(ReplyExamples.Named("marketing-permissions-updated"), correlationId, messageId,
            "marketing-permissions-to-lead-segments"));
        await client.ReadAsync();
        var answer = await client.ReadAsync();

        Assert.True(answer.TryGetProperty("result", out var result), answer.ToString());
        Assert.Equal(nameof(LeadSegmentUpdateFailed), answer.GetProperty("type").GetString());
        Assert.Equal(400, result.GetProperty("status").GetInt32());
        Assert.Equal(LeadSegmentErrors.InvalidCommand, CommandAnswers.CodeOf(result.GetProperty("body")));
        AssertSameAnswer((await fixture.Results.WaitForCommandAsync(messageId)).Event, result, "skipped");
    }

    [Fact]
    public async Task The_same_request_sent_twice_is_answered_twice_identically_and_applied_once()
    {
        await using var client = await PackagedClient.StartAsync("requests", fixture.Services.RabbitMq);
        var example = ReplyExamples.Named("lead-segment-updated");
        var (correlationId, messageId) = (Guid.NewGuid().ToString(), Guid.NewGuid());

        await client.WriteAsync(Request(example, correlationId, messageId));
        await client.ReadAsync();
        var first = (await client.ReadAsync()).GetProperty("result");
        var stored = await fixture.SnapshotAsync(LeadSegmentScenario.Table);
        await client.WriteAsync(Request(example, correlationId, messageId));
        await client.ReadAsync();
        var second = (await client.ReadAsync()).GetProperty("result");

        Assert.Equal(first.GetRawText(), second.GetRawText());
        Assert.Equal(200, first.GetProperty("status").GetInt32());
        Assert.Equal(stored, await fixture.SnapshotAsync(LeadSegmentScenario.Table));
        var published = await fixture.Results.WaitForAsync(correlationId, 2);
        Assert.Equal(published[0].Raw, published[1].Raw);
    }

    [Fact]
    public async Task A_command_sent_with_the_send_endpoint_reaches_the_result_subscription_of_the_package()
    {
        await using var client = await PackagedClient.StartAsync("subscribe", fixture.Services.RabbitMq);
        var correlationId = Guid.NewGuid().ToString();

        await client.WriteAsync(JsonDocument.Parse(ReplyExamples.Named("lead-segment-updated").Command(correlationId)).RootElement);
        var received = await client.ReadAsync();

        Assert.Equal(correlationId, received.GetProperty("correlationId").GetString());
        Assert.Equal(200, received.GetProperty("status").GetInt32());
        Assert.Equal("acme", received.GetProperty("enterprise").GetString());
        AssertSameAnswer((await fixture.Results.WaitForAsync(correlationId)).Event, received, "subscription");
    }

    internal static string ResultType(string exchange) => string.Concat(exchange.Split('-').Select(word =>
        char.ToUpperInvariant(word[0]) + word[1..]));

    /// <summary>The response as MassTransit read it has every field of the result event, with the same values.</summary>
    internal static void AssertSameAnswer(JsonElement published, JsonElement answered, string what)
    {
        foreach (var field in published.EnumerateObject())
        {
            Assert.True(answered.TryGetProperty(field.Name, out var value), $"{what}: no {field.Name} in {answered}");
            Assert.True(JsonElement.DeepEquals(field.Value, value), $"{what}: {field.Name} is {value}, published {field.Value}");
        }
    }
}
