using System.Text;
using Contracts.LeadSegments;
using Microsoft.Extensions.Logging;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.Observability;

/// <summary>A failed command gets one structured log line; an expected failure has no stack trace.</summary>
[Collection(WorkerCollection.Name)]
public sealed class CommandLogTests(WorkerFixture fixture) : IAsyncLifetime
{
    public Task InitializeAsync() => fixture.ResetAsync();
    public Task DisposeAsync() => Task.CompletedTask;

    IReadOnlyList<CapturedLog> LinesFor(string correlationId) =>
        fixture.Logs.Entries.Where(e => e.Values.TryGetValue("CorrelationId", out var id) && id as string == correlationId).ToList();

    async Task<IReadOnlyList<CapturedLog>> WaitForLinesAsync(string correlationId)
    {
        // The line is written right after the result is published.
        for (var i = 0; i < 50 && LinesFor(correlationId).Count == 0; i++) await Task.Delay(20);
        await Task.Delay(100);
        return LinesFor(correlationId);
    }

    [Fact]
    public async Task A_refused_command_is_one_line_with_queue_ids_status_and_code_and_no_stack_trace()
    {
        var correlationId = $"log-{Guid.NewGuid():N}";
        var messageId = Guid.NewGuid();
        await fixture.SendJsonAsync(UpdateLeadSegment.Queue,
            new { correlationId, enterprise = "acme", id = "missing", body = new { code = "X" } }, messageId.ToString());
        Assert.Equal(404, (await fixture.Results.WaitForAsync(correlationId)).Status);

        var line = Assert.Single(await WaitForLinesAsync(correlationId));
        Assert.Equal(LogLevel.Information, line.Level);
        Assert.Null(line.Exception);
        Assert.Equal(UpdateLeadSegment.Queue, line.Values["Queue"]);
        Assert.Equal(messageId, line.Values["MessageId"]);
        Assert.Equal(404, line.Values["Status"]);
        Assert.Equal("LEAD_SEGMENT_NOT_FOUND", line.Values["Code"]);
    }

    [Fact]
    public async Task An_unreadable_command_is_one_warning_line_without_a_stack_trace()
    {
        var correlationId = $"log-{Guid.NewGuid():N}";
        var messageId = Guid.NewGuid().ToString();
        await fixture.SendRawAsync(UpdateLeadSegment.Queue, Encoding.UTF8.GetBytes("{not json"), messageId: messageId,
            correlationId: correlationId);
        Assert.Equal(400, (await fixture.Results.WaitForAsync(correlationId)).Status);
        await fixture.WaitForErrorQueueAsync(UpdateLeadSegment.Queue);

        var line = Assert.Single(await WaitForLinesAsync(correlationId));
        Assert.Equal(LogLevel.Warning, line.Level);
        Assert.Null(line.Exception);
        Assert.Equal(400, line.Values["Status"]);
        Assert.Equal("INVALID_COMMAND", line.Values["Code"]);
        Assert.DoesNotContain(fixture.Logs.Entries, e => e.Exception is not null && e.Message.Contains(correlationId));
    }

    [Fact]
    public async Task A_command_that_succeeds_logs_nothing()
    {
        var correlationId = $"log-{Guid.NewGuid():N}";
        await fixture.SendJsonAsync(UpdateLeadSegment.Queue,
            new { correlationId, enterprise = "acme", id = "1234", body = new { description = "quiet" } });
        Assert.Equal(200, (await fixture.Results.WaitForAsync(correlationId)).Status);

        Assert.Empty(await WaitForLinesAsync(correlationId));
    }
}
