using MassTransit;

namespace Worker.Messaging;

/// <summary>
/// Runs in a receive endpoint's dead-letter pipe, before a message no consumer took is moved to
/// <c>&lt;queue&gt;_skipped</c>: a MassTransit envelope of a message type this queue does not take. It is answered
/// with the API's 400 for an unreadable command, like any other message that is not a command, so that its sender
/// is not left waiting. A message whose answer cannot be published is left to the broker, which delivers it again.
/// </summary>
public sealed class AnswerSkippedCommandFilter(ICommandFailures failures, IServiceProvider services,
    ILogger<AnswerSkippedCommandFilter> logger) : IFilter<ReceiveContext>
{
    public async Task Send(ReceiveContext context, IPipe<ReceiveContext> next)
    {
        var messageId = context.GetMessageId();
        var result = failures.Unreadable(PublishFailedResultFilter.ReadCorrelationId(context), messageId,
            UnreadableReason.NotJson, "the message is not a command this queue takes");
        logger.LogError("Command {MessageId} is of a type this queue does not take; answered with {Status} and moved to " +
            "the skipped queue", messageId, result.Status);
        await Task.WhenAll(services.GetRequiredService<IBus>().Publish(result, result.GetType(), context.CancellationToken),
            services.GetRequiredService<Replies>().AnswerAsync(context, null, result, context.CancellationToken));
        services.GetRequiredService<CommandAnswers>().AnsweredFailure(context, result.CorrelationId, result.CommandMessageId,
            result.Status, result.Body);
        await next.Send(context);
        services.GetRequiredService<Observability.WorkerMetrics>().SetAside(
            CommandPartitions.OperationQueueOf(context.InputAddress.Segments[^1]), "skipped");
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("answerSkippedCommand");
}
