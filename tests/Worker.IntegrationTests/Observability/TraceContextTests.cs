using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Contracts.LeadSegments;
using MassTransit;
using Worker.IntegrationTests.Infrastructure;
using Worker.Observability;

namespace Worker.IntegrationTests.Observability;

/// <summary>
/// W3C trace context across the broker: a command's trace goes on through the worker (its span, the database work
/// beneath it) into the result event's <c>traceparent</c> header, whichever client published the command.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class TraceContextTests(WorkerFixture fixture) : IAsyncLifetime
{
    readonly ConcurrentQueue<Activity> _spans = new();
    ActivityListener? _listener;

    public Task InitializeAsync()
    {
        // Sees the spans of the worker running in this process, as an exporter would.
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is CommandTracing.SourceName or "Npgsql" or "MassTransit",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _spans.Enqueue,
        };
        ActivitySource.AddActivityListener(_listener);
        return fixture.ResetAsync();
    }

    public Task DisposeAsync()
    {
        _listener?.Dispose();
        return Task.CompletedTask;
    }

    static (ActivityTraceId Trace, ActivitySpanId Span, string TraceParent) UpstreamSpan()
    {
        var (trace, span) = (ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom());
        return (trace, span, $"00-{trace}-{span}-01");
    }

    static ActivityContext TraceContextOf(ReceivedResult result)
    {
        var headers = result.Properties.Headers ?? new Dictionary<string, object?>();
        Assert.True(headers.TryGetValue(CommandTracing.TraceParentHeader, out var value), "the result event has no traceparent");
        var text = Encoding.UTF8.GetString((byte[])value!);
        Assert.True(ActivityContext.TryParse(text, null, out var context), $"'{text}' is not a W3C traceparent");
        return context;
    }

    // The worker's own span for a command; MassTransit's consume span, seen here too, is a child of it.
    static bool IsProcessSpan(Activity span) => span.Kind == ActivityKind.Consumer && span.Source.Name == CommandTracing.SourceName;

    // Through any spans in between: MassTransit's consume span sits between the worker's two where it is listened to.
    static bool IsBeneath(Activity span, Activity ancestor, IReadOnlyList<Activity> trace)
    {
        for (var parent = span.ParentSpanId; parent != default; parent = trace.FirstOrDefault(s => s.SpanId == parent)?.ParentSpanId ?? default)
            if (parent == ancestor.SpanId) return true;
        return false;
    }

    async Task<IReadOnlyList<Activity>> SpansOfTraceAsync(ActivityTraceId trace, Func<IReadOnlyList<Activity>, bool> complete)
    {
        for (var i = 0; i < 100; i++)
        {
            var spans = _spans.Where(s => s.TraceId == trace).ToList();
            if (complete(spans)) return spans;
            await Task.Delay(20);
        }
        return _spans.Where(s => s.TraceId == trace).ToList();
    }

    [Fact]
    public async Task A_command_with_a_plain_traceparent_header_is_answered_in_the_same_trace_with_the_database_work_beneath()
    {
        var upstream = UpstreamSpan();
        var correlationId = $"trace-{Guid.NewGuid():N}";
        await fixture.SendRawAsync(UpdateLeadSegment.Queue, WorkerFixture.Utf8(
                $$$"""{"correlationId":"{{{correlationId}}}","enterprise":"acme","id":"1234","body":{"description":"traced"}}"""),
            headers: new Dictionary<string, object?>
            {
                [CommandTracing.TraceParentHeader] = upstream.TraceParent, [CommandTracing.TraceStateHeader] = "vendor=1",
            });

        var result = await fixture.Results.WaitForAsync(correlationId);
        Assert.Equal(200, result.Status);
        var published = TraceContextOf(result);
        Assert.Equal(upstream.Trace, published.TraceId);
        Assert.NotEqual(upstream.Span, published.SpanId);
        Assert.Equal("vendor=1", Encoding.UTF8.GetString((byte[])result.Properties.Headers![CommandTracing.TraceStateHeader]!));

        // The worker's span is a child of the publisher's; the transaction's span is beneath it, and the statements
        // beneath that.
        var spans = await SpansOfTraceAsync(upstream.Trace, s => s.Any(IsProcessSpan));
        var process = Assert.Single(spans, IsProcessSpan);
        Assert.Equal(upstream.Span, process.ParentSpanId);
        Assert.Equal($"{UpdateLeadSegment.Queue} process", process.DisplayName);
        Assert.Equal(200, process.GetTagItem("worker.result.status"));
        var applying = Assert.Single(spans, s => s.DisplayName == "apply commands");
        Assert.True(IsBeneath(applying, process, spans));
        var statements = spans.Where(s => s.Source.Name == "Npgsql").ToList();
        Assert.NotEmpty(statements);
        Assert.All(statements, s => Assert.Equal(applying.SpanId, s.ParentSpanId));
        var publish = Assert.Single(spans, s => s.Kind == ActivityKind.Producer && s.Source.Name == CommandTracing.SourceName);
        Assert.True(IsBeneath(publish, process, spans));
        Assert.Equal(publish.SpanId, published.SpanId);
    }

    [Fact]
    public async Task A_refused_and_an_unreadable_command_are_answered_in_their_publishers_traces_too()
    {
        var refused = UpstreamSpan();
        var refusedId = $"trace-{Guid.NewGuid():N}";
        await fixture.SendRawAsync(UpdateLeadSegment.Queue, WorkerFixture.Utf8(
                $$$"""{"correlationId":"{{{refusedId}}}","enterprise":"acme","id":"missing","body":{"description":"x"}}"""),
            headers: new Dictionary<string, object?> { [CommandTracing.TraceParentHeader] = refused.TraceParent });
        var unreadable = UpstreamSpan();
        var unreadableId = $"trace-{Guid.NewGuid():N}";
        await fixture.SendRawAsync(UpdateLeadSegment.Queue, Encoding.UTF8.GetBytes("{not json"), correlationId: unreadableId,
            headers: new Dictionary<string, object?> { [CommandTracing.TraceParentHeader] = unreadable.TraceParent });

        var refusal = await fixture.Results.WaitForAsync(refusedId);
        Assert.Equal(404, refusal.Status);
        Assert.Equal(refused.Trace, TraceContextOf(refusal).TraceId);
        var unreadableResult = await fixture.Results.WaitForAsync(unreadableId);
        Assert.Equal(400, unreadableResult.Status);
        Assert.Equal(unreadable.Trace, TraceContextOf(unreadableResult).TraceId);
        await fixture.WaitForErrorQueueAsync(UpdateLeadSegment.Queue);

        // A refusal is a correct answer, not a failure of the worker: the span says what it was, and is not an error.
        var spans = await SpansOfTraceAsync(refused.Trace, s => s.Any(IsProcessSpan));
        var process = Assert.Single(spans, IsProcessSpan);
        Assert.Equal(404, process.GetTagItem("worker.result.status"));
        Assert.Equal("LEAD_SEGMENT_NOT_FOUND", process.GetTagItem("worker.result.code"));
        Assert.NotEqual(ActivityStatusCode.Error, process.Status);
    }

    [Fact]
    public async Task A_command_without_trace_context_starts_a_trace_of_its_own()
    {
        var (first, second) = ($"trace-{Guid.NewGuid():N}", $"trace-{Guid.NewGuid():N}");
        foreach (var correlationId in new[] { first, second })
            await fixture.SendJsonAsync(UpdateLeadSegment.Queue,
                new { correlationId, enterprise = "acme", id = "1234", body = new { description = correlationId } });

        var a = TraceContextOf(await fixture.Results.WaitForAsync(first));
        var b = TraceContextOf(await fixture.Results.WaitForAsync(second));
        Assert.NotEqual(default, a.TraceId);
        Assert.NotEqual(a.TraceId, b.TraceId);
        var spans = await SpansOfTraceAsync(a.TraceId, s => s.Any(IsProcessSpan));
        Assert.Equal(default, Assert.Single(spans, IsProcessSpan).ParentSpanId);
    }

    [Fact]
    public async Task A_command_sent_by_a_MassTransit_publisher_continues_the_publishers_trace()
    {
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.Host(new Uri(fixture.Services.RabbitMq)));
        await bus.StartAsync();
        try
        {
            using var upstream = new ActivitySource("upstream-service");
            using var listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name == "upstream-service",
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            };
            ActivitySource.AddActivityListener(listener);
            var correlationId = $"trace-{Guid.NewGuid():N}";
            ActivityTraceId trace;
            using (var request = upstream.StartActivity("handle request")!)
            {
                trace = request.TraceId;
                var endpoint = await bus.GetSendEndpoint(new Uri($"queue:{UpdateLeadSegment.Queue}"));
                await endpoint.Send(new UpdateLeadSegment
                {
                    CorrelationId = correlationId, Enterprise = "acme", Id = "1234",
                    Body = System.Text.Json.JsonDocument.Parse("""{"description":"from .NET"}""").RootElement,
                });
            }

            var result = await fixture.Results.WaitForAsync(correlationId);
            Assert.Equal(200, result.Status);
            Assert.Equal(trace, TraceContextOf(result).TraceId);
        }
        finally
        {
            await bus.StopAsync();
        }
    }
}
