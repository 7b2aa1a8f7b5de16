using System.Diagnostics;
using MassTransit;

namespace Worker.Observability;

/// <summary>
/// W3C trace context across the broker. A command is handled in a span of the trace its publisher started, whether
/// the publisher set a plain <c>traceparent</c> AMQP header (any OpenTelemetry-instrumented client) or MassTransit's
/// own <c>MT-Activity-Id</c> (a .NET publisher); a command with neither starts a trace of its own. Its result event
/// carries a <c>traceparent</c> header in the same trace, and <c>MT-Activity-Id</c> for MassTransit subscribers.
/// </summary>
/// <remarks>
/// MassTransit 8's own spans read and write only <c>MT-Activity-Id</c>, and a result event published as plain JSON
/// carries no framework headers, so the worker has its own source instead of listening to MassTransit's.
/// </remarks>
public static class CommandTracing
{
    public const string SourceName = "Worker";
    public const string TraceParentHeader = "traceparent";
    public const string TraceStateHeader = "tracestate";
    public const string MassTransitActivityHeader = "MT-Activity-Id";

    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>The publisher's span, from whichever header it set; default when it set none or an invalid one.</summary>
    public static ActivityContext ParentOf(Headers headers)
    {
        var traceState = headers.TryGetHeader(TraceStateHeader, out var state) ? state as string : null;
        foreach (var header in new[] { TraceParentHeader, MassTransitActivityHeader })
        {
            if (headers.TryGetHeader(header, out var value) && value is string text
                && ActivityContext.TryParse(text, traceState, isRemote: true, out var parent))
                return parent;
        }
        return default;
    }

    /// <summary>The span a command is handled in, from its delivery until it is answered and acknowledged.</summary>
    internal static Activity? StartProcessing(ReceiveContext context, string queue)
    {
        var parent = ParentOf(context.TransportHeaders);
        // Without a publisher's span the command starts a trace of its own, whatever the receiving thread last ran.
        if (parent == default) Activity.Current = null;
        var activity = Source.StartActivity($"{queue} process", ActivityKind.Consumer, parent);
        if (activity is { IsAllDataRequested: true })
        {
            activity.SetTag("messaging.system", "rabbitmq");
            activity.SetTag("messaging.operation.type", "process");
            activity.SetTag("messaging.destination.name", queue);
            if (context.TransportHeaders.TryGetHeader("MessageId", out var messageId))
                activity.SetTag("messaging.message.id", messageId);
        }
        return activity;
    }

    /// <summary>
    /// What the command was answered with, on its span. A refusal by the API's rules is a correct answer, not an
    /// error of the worker; as with HTTP servers, only 5xx marks the span as failed.
    /// </summary>
    internal static void Answered(int status, string? code)
    {
        // The command's own span, also when another library's span (MassTransit's consume span, where someone
        // listens to it) is the current one.
        var activity = Activity.Current;
        while (activity is not null && !(activity.Source == Source && activity.Kind == ActivityKind.Consumer)) activity = activity.Parent;
        if (activity is null) return;
        activity.SetTag("worker.result.status", status);
        if (code is not null) activity.SetTag("worker.result.code", code);
        if (status >= 500) activity.SetStatus(ActivityStatusCode.Error, code);
    }

    /// <summary>
    /// The span of one database transaction. Commands applied together share it: it belongs to the trace of the
    /// first and links to the others, so each command's trace leads to the statements that stored it.
    /// </summary>
    internal static Activity? StartApplying(IReadOnlyList<ActivityContext> commands)
    {
        if (!Source.HasListeners()) return null;
        var links = commands.Count > 1
            ? commands.Skip(1).Where(c => c != default).Select(c => new ActivityLink(c)).ToList()
            : null;
        var activity = Source.StartActivity(ActivityKind.Internal, commands.Count > 0 ? commands[0] : default,
            links: links, name: "apply commands");
        activity?.SetTag("worker.batch.commands", commands.Count);
        return activity;
    }

    /// <summary>Puts the current span into a result event's headers, for its subscribers to continue the trace.</summary>
    internal sealed class PublishFilter : IFilter<PublishContext>
    {
        public async Task Send(PublishContext context, IPipe<PublishContext> next)
        {
            using var activity = Activity.Current is null ? null
                : Source.StartActivity($"{context.DestinationAddress?.AbsolutePath.Trim('/')} publish", ActivityKind.Producer);
            if (activity is not null)
            {
                activity.SetTag("messaging.system", "rabbitmq");
                activity.SetTag("messaging.operation.type", "publish");
                context.Headers.Set(TraceParentHeader, activity.Id);
                if (!string.IsNullOrEmpty(activity.TraceStateString)) context.Headers.Set(TraceStateHeader, activity.TraceStateString);
                context.Headers.Set(MassTransitActivityHeader, activity.Id);
            }
            await next.Send(context);
        }

        public void Probe(ProbeContext context) => context.CreateFilterScope("traceContext");
    }

    /// <summary>Opens a command's span around everything done with it, error and dead-letter answers included.</summary>
    internal sealed class ReceiveFilter(string queue) : IFilter<ReceiveContext>
    {
        public async Task Send(ReceiveContext context, IPipe<ReceiveContext> next)
        {
            using var activity = StartProcessing(context, queue);
            await next.Send(context);
        }

        public void Probe(ProbeContext context) => context.CreateFilterScope("traceContext");
    }
}
