using System.Text.Json;
using MassTransit;

namespace Worker.Observability;

/// <summary>
/// What is recorded of every answered command: its metrics, and for a failed one a single structured log line
/// (queue, correlation id, message id, status, error code). A refusal by the API's rules is an expected answer, so it
/// is logged without a stack trace.
/// </summary>
public sealed partial class CommandAnswers(WorkerMetrics metrics, Worker.Messaging.Replies replies,
    ILogger<CommandAnswers> logger)
{
    /// <summary>
    /// Publishes the command's result event, <typeparamref name="TSucceeded"/> or <typeparamref name="TFailed"/>
    /// with the outcome's status and body, and records the answer. <paramref name="aboutTheDocument"/> adds what the
    /// operation's events say of the document (its id, say). A command without a correlation id of its own is answered
    /// with its AMQP correlation_id, as raw JSON publishers set it. A command that names a reply address is answered
    /// there too, at the same time.
    /// </summary>
    public async Task AnswerAsync<TSucceeded, TFailed>(ConsumeContext context, string queue, string? correlationId,
        CommandOutcome outcome, Func<CommandResult, CommandResult>? aboutTheDocument = null)
        where TSucceeded : CommandResult, new()
        where TFailed : CommandResult, new()
    {
        correlationId ??= context.TransportCorrelationId();
        CommandResult result = outcome.Succeeded ? new TSucceeded() : new TFailed();
        result = result with
        {
            CorrelationId = correlationId, CommandMessageId = context.MessageId, Status = outcome.Status, Body = outcome.Body,
        };
        if (aboutTheDocument is not null) result = aboutTheDocument(result);
        await Task.WhenAll(context.Publish(result, result.GetType(), context.CancellationToken),
            replies.AnswerAsync(context.ReceiveContext, context, result, context.CancellationToken));
        Answered(queue, context, correlationId, outcome);
    }

    public void Answered(string queue, ConsumeContext context, string? correlationId, CommandOutcome outcome)
    {
        metrics.Answered(queue, outcome.Succeeded, outcome.Status, context.ReceiveContext.ElapsedTime, outcome.Repeated);
        var code = outcome.Succeeded ? null : CodeOf(outcome.Body);
        CommandTracing.Answered(outcome.Status, code);
        if (!outcome.Succeeded) Failed(queue, correlationId, context.MessageId, outcome.Status, code);
    }

    /// <summary>A command answered by an error filter (unreadable, or failing after its retries).</summary>
    public void AnsweredFailure(ReceiveContext context, string? correlationId, Guid? messageId, int status, JsonElement body)
    {
        var queue = Worker.Messaging.CommandPartitions.OperationQueueOf(context.InputAddress.Segments[^1]);
        metrics.Answered(queue, false, status, context.ElapsedTime, duplicate: false);
        var code = CodeOf(body);
        CommandTracing.Answered(status, code);
        FailedAndMoved(queue, correlationId, messageId, status, code);
    }

    // A warning: the command is kept in the error queue for someone to look at.
    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Command {MessageId} ({CorrelationId}) on {Queue} failed with {Status} {Code}; moved to the error queue")]
    partial void FailedAndMoved(string queue, string? correlationId, Guid? messageId, int status, string? code);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Command {MessageId} ({CorrelationId}) on {Queue} failed with {Status} {Code}")]
    partial void Failed(string queue, string? correlationId, Guid? messageId, int status, string? code);

    /// <summary>The error code in each API's own failure shape: Pexip's errors[0].code, Payway's code, Valomnia's error.</summary>
    public static string? CodeOf(JsonElement body) => body.ValueKind != JsonValueKind.Object ? null
        : body.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array && errors.GetArrayLength() > 0
          && errors[0].ValueKind == JsonValueKind.Object && errors[0].TryGetProperty("code", out var pexip) ? pexip.GetString()
        : body.TryGetProperty("code", out var payway) && payway.ValueKind == JsonValueKind.String ? payway.GetString()
        : body.TryGetProperty("error", out var valomnia) && valomnia.ValueKind == JsonValueKind.String ? valomnia.GetString()
        : null;
}
