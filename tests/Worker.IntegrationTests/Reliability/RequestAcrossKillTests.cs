using System.Text.Json;
using Worker.IntegrationTests.Infrastructure;
using Worker.IntegrationTests.Replies;

namespace Worker.IntegrationTests.Reliability;

/// <summary>
/// A MassTransit request (on the packed Contracts) that is in the worker's hands when the worker is killed: the broker
/// delivers the command again to the worker started after it, which answers at the request's response address, so
/// the requester still gets its one answer (at-least-once for answers, exactly once for the change).
/// </summary>
[Collection(FaultCollection.Name)]
public sealed class RequestAcrossKillTests(FaultFixture fixture)
{
    [Fact]
    public async Task A_request_in_flight_while_the_worker_is_killed_is_answered_by_the_worker_started_after_it()
    {
        await fixture.ResetAsync(new MixedCommandStream(0, run: "request-kill"));
        var worker = await WorkerProcess.StartAsync(fixture.Services);
        try
        {
            await worker.WaitUntilReadyAsync();
            await using var client = await PackagedClient.StartAsync("requests", fixture.Services.RabbitMq);
            var example = ReplyExamples.Named("lead-segment-updated");
            var (correlationId, messageId) = (Guid.NewGuid().ToString(), Guid.NewGuid());

            // The segment's row locked, so that the command waits in the worker, taken and not acknowledged.
            await using (var connection = await fixture.Database.OpenConnectionAsync())
            await using (var transaction = await connection.BeginTransactionAsync())
            {
                await using (var lockRow = new Npgsql.NpgsqlCommand(
                    "select 1 from mt_doc_leadsegment where tenant_id = 'acme' and id = '1234' for update", connection, transaction))
                    await lockRow.ExecuteNonQueryAsync();
                await client.WriteAsync(MassTransitRequestTests.Request(example, correlationId, messageId));
                await client.ReadAsync();
                await WaitUntilTakenAsync();
                await worker.KillAsync();
                await transaction.RollbackAsync();
            }
            worker = await WorkerProcess.StartAsync(fixture.Services);

            var answer = await client.ReadAsync(TimeSpan.FromSeconds(120));
            Assert.True(answer.TryGetProperty("result", out var result), answer.ToString());
            Assert.Equal(200, result.GetProperty("status").GetInt32());
            Assert.Equal(messageId, result.GetProperty("commandMessageId").GetGuid());
            var published = await fixture.Results.WaitForAsync(correlationId);
            MassTransitRequestTests.AssertSameAnswer(published.Event, result, "after the kill");
            Assert.Single(fixture.Results.ResultsFor(correlationId));
        }
        finally
        {
            await worker.DisposeAsync();
        }
    }

    /// <summary>Until a lead-segment queue has a command delivered and not acknowledged.</summary>
    async Task WaitUntilTakenAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var listing = await fixture.Services.RabbitMqCtlAsync("-q", "list_queues", "name", "messages_unacknowledged");
            if (listing.Split('\n').Select(line => line.Split('\t', StringSplitOptions.TrimEntries))
                .Any(row => row.Length == 2 && row[0].StartsWith("update-lead-segment") && row[1] != "0"))
                return;
            await Task.Delay(100);
        }
        throw new TimeoutException("the worker never took the command");
    }
}
