using System.Globalization;
using System.Text;
using System.Text.Json;
using Contracts.CustomerPromotionLists;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;
using Marten;
using Microsoft.Extensions.Options;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Worker.CustomerPromotionLists;
using Worker.LeadSegments;
using Worker.MarketingPermissions;
using Worker.Messaging;
using Worker.Storage;
using Npgsql;

namespace Worker.Redrive;

/// <summary>
/// <c>worker redrive</c>: sends the commands of the error and skipped queues back for another try, after the cause of
/// their failure was fixed (decision 0012). Each queue is read from its head, in the order its commands failed; a
/// command goes back with its message id and headers, through the partitioned exchange when partitions are on, and
/// leaves its error queue only once the broker confirmed it elsewhere. Nothing is lost if the re-drive is cut off;
/// run again, it drops without sending the commands that were answered since (the inbox has their message id).
/// </summary>
public sealed class ErrorQueueRedrive(BrokerConnection broker, IDocumentStore store, NpgsqlDataSource database,
    IOptions<MessagingOptions> messaging)
{
    /// <summary>Exit code: what was selected stayed in part (the limit, or a send the broker did not confirm).</summary>
    public const int SomethingLeft = 3;

    static readonly string[] Operations = [UpdateLeadSegment.Queue, UpdateMarketingPermissions.Queue, UpdateCustomerPromotionList.Queue];

    public async Task<int> RunAsync(RedriveOptions options, TextWriter output, CancellationToken cancellationToken)
    {
        var factory = broker.Factory("worker redrive");
        await using var connection = await factory.CreateConnectionAsync(cancellationToken);
        var (sent, answered, left, listed) = (0, 0, 0, 0);
        foreach (var operation in Operations.Where(q => options.Queue is null || q == options.Queue))
        {
            foreach (var source in SourcesOf(operation))
            {
                if (!await ExistsAsync(connection, source, cancellationToken)) continue;
                // Deliveries taken and not acknowledged go back to the queue's head, in their order, when the channel
                // closes: what is not sent stays where it was.
                await using var channel = await connection.CreateChannelAsync(
                    new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true),
                    cancellationToken);
                while (await channel.BasicGetAsync(source, autoAck: false, cancellationToken) is { } message)
                {
                    var failed = FailedCommand.Read(operation, source, message);
                    if (!options.Selects(failed)) continue;
                    if (options.Limit is { } limit && sent + answered >= limit) { left++; continue; }
                    if (options.DryRun)
                    {
                        listed++;
                        var later = await LaterChangeAsync(failed, cancellationToken);
                        output.WriteLine($"{failed.MessageId?.ToString() ?? "(no message id)"}  {source}  {failed.Document ?? "(unreadable)"}  " +
                            $"failed {failed.FailedAt:O}: {failed.Reason}  " +
                            (later is { } at ? $"superseded: its document changed at {at:O}" : "not superseded"));
                        continue;
                    }
                    if (failed.MessageId is { } id && await AnsweredAsync(id, cancellationToken))
                    {
                        // Sent back by an earlier re-drive that was cut off before it acknowledged here, and answered.
                        await channel.BasicAckAsync(message.DeliveryTag, multiple: false, cancellationToken);
                        answered++;
                        continue;
                    }
                    if (await SendBackAsync(connection, failed, message, options, cancellationToken))
                    {
                        await channel.BasicAckAsync(message.DeliveryTag, multiple: false, cancellationToken);
                        sent++;
                    }
                    else left++;
                }
            }
        }
        output.WriteLine(options.DryRun
            ? $"redrive --dry-run: {listed} command(s) would go back{(left > 0 ? $", {left} more beyond --limit" : "")}"
            : $"redrive: {sent} command(s) sent back, {answered} already answered and dropped, {left} left in the error queues");
        return left > 0 && !options.DryRun ? SomethingLeft : 0;
    }

    /// <summary>The operation's error and skipped queues, which its partitions share (CommandPartitions.SharedErrorQueues).</summary>
    static string[] SourcesOf(string operation) => [operation + "_error", operation + "_skipped"];

    static async Task<bool> ExistsAsync(IConnection connection, string queue, CancellationToken cancellationToken)
    {
        // A passive declare of a missing queue closes its channel: a channel of its own.
        await using var probe = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            await probe.QueueDeclarePassiveAsync(queue, cancellationToken);
            return true;
        }
        catch (OperationInterruptedException e) when (e.ShutdownReason?.ReplyCode == 404)
        {
            return false;
        }
    }

    /// <summary>
    /// Publishes the command again, confirmed, to its partition (by its document's key) or its queue; false if the
    /// broker did not take it.
    /// </summary>
    async Task<bool> SendBackAsync(IConnection connection, FailedCommand failed, BasicGetResult message,
        RedriveOptions options, CancellationToken cancellationToken)
    {
        var properties = new BasicProperties(message.BasicProperties) { Persistent = true };
        var headers = new Dictionary<string, object?>(message.BasicProperties.Headers ?? new Dictionary<string, object?>());
        headers[RedriveHeaders.From] = failed.Source;
        if (options.ApplySuperseded) headers.Remove(RedriveHeaders.FailedAt);
        else headers[RedriveHeaders.FailedAt] = failed.FailedAt.ToString("O", CultureInfo.InvariantCulture);
        properties.Headers = headers;
        var (exchange, routingKey) = messaging.Value.Partitions > 0
            ? (CommandPartitions.ExchangeOf(failed.Operation), failed.Document ?? "")
            : ("", failed.Operation);
        await using var channel = await connection.CreateChannelAsync(
            new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true),
            cancellationToken);
        try
        {
            await channel.BasicPublishAsync(exchange, routingKey, mandatory: true, properties, message.Body, cancellationToken);
            return true;
        }
        catch (Exception e) when (e is PublishException or OperationInterruptedException)
        {
            return false;
        }
    }

    async Task<bool> AnsweredAsync(Guid messageId, CancellationToken cancellationToken)
    {
        await using var session = store.QuerySession();
        return await session.LoadAsync<InboxEntry>(messageId, cancellationToken) is not null;
    }

    /// <summary>When the command's document last changed, if after the command failed: a later command overtook it.</summary>
    async Task<DateTimeOffset?> LaterChangeAsync(FailedCommand failed, CancellationToken cancellationToken)
    {
        if (failed.Command is null) return null;
        // As the worker decides it (CommandSession.ModifiedSinceAsync): a write by a re-driven command counts at the
        // moment that command failed.
        async Task<DateTimeOffset?> ModifiedAsync<T>(string tenant, Func<IQuerySession, Task<T?>> load)
            where T : class, IVersionedDocument
        {
            await using var session = store.QuerySession(tenant);
            if (await load(session) is not { } document) return null;
            var key = DocumentRef.Of<T>(tenant, DocumentIds.Of(document));
            await using var marks = store.QuerySession();
            var mark = await marks.LoadAsync<RedriveMark>(RedriveMark.IdOf(key), cancellationToken);
            DateTimeOffset? changed;
            if (mark is not null && mark.Version == document.Version) changed = mark.FailedAt;
            else
            {
                await using var connection = await database.OpenConnectionAsync(cancellationToken);
                changed = await DocumentIds.LastModifiedAsync(store, connection, null, typeof(T), tenant, key.Id, cancellationToken);
            }
            return changed > failed.FailedAt ? changed : null;
        }
        switch (failed.Command)
        {
            case UpdateLeadSegment { Enterprise: { } enterprise, Id: { } id }:
                return await ModifiedAsync(enterprise, s => s.LoadAsync<LeadSegment>(id, cancellationToken));
            case UpdateMarketingPermissions command when MarketingPermissionsRequest.Read(command).Request is { } request:
                return await ModifiedAsync(DocumentRef.DefaultTenant, s => s.LoadAsync<Account>(request.AccountId, cancellationToken));
            case UpdateCustomerPromotionList command when AssignmentRequest.Read(command).Request is { } request:
                return await ModifiedAsync(DocumentRef.DefaultTenant, s => request.Address switch
                {
                    AssignmentAddress.ById byId => s.LoadAsync<CustomerPromotionList>(byId.Id, cancellationToken),
                    AssignmentAddress.ByReference r => s.Query<CustomerPromotionList>()
                        .FirstOrDefaultAsync(a => a.CustomerReference == r.CustomerReference
                            && a.PromotionListReference == r.PromotionListReference, cancellationToken),
                    _ => Task.FromResult<CustomerPromotionList?>(null),
                });
            default:
                return null;
        }
    }
}

/// <summary>A command in an error or skipped queue, read as far as it can be.</summary>
public sealed record FailedCommand(string Operation, string Source, Guid? MessageId, object? Command, string? Document,
    DateTimeOffset FailedAt, string Reason)
{
    public static FailedCommand Read(string operation, string source, BasicGetResult message)
    {
        var headers = message.BasicProperties.Headers ?? new Dictionary<string, object?>();
        string? Text(string name) => headers.TryGetValue(name, out var value) ? value switch
        {
            byte[] bytes => Encoding.UTF8.GetString(bytes),
            null => null,
            _ => Convert.ToString(value, CultureInfo.InvariantCulture),
        } : null;
        var failedAt = Text("MT-Fault-Timestamp") is { } stamp
            && DateTimeOffset.TryParse(stamp, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
                ? at : DateTimeOffset.UtcNow;
        var reason = Text("MT-Fault-Message") ?? Text("MT-Reason") ?? "unknown";
        var messageId = Guid.TryParse(message.BasicProperties.MessageId, out var id) ? id : (Guid?)null;
        var command = CommandOf(operation, message.Body.Span, ref messageId);
        var document = command switch
        {
            UpdateLeadSegment c => c.PartitionKey(),
            UpdateMarketingPermissions c => c.PartitionKey(),
            UpdateCustomerPromotionList c => c.PartitionKey(),
            _ => null,
        };
        return new FailedCommand(operation, source, messageId, command, document, failedAt, reason.ReplaceLineEndings(" "));
    }

    /// <summary>The command of a plain JSON body or of a MassTransit envelope (whose message id is in the envelope).</summary>
    static object? CommandOf(string operation, ReadOnlySpan<byte> body, ref Guid? messageId)
    {
        try
        {
            var json = JsonDocument.Parse(body.ToArray()).RootElement;
            if (json.ValueKind == JsonValueKind.Object && json.TryGetProperty("message", out var inner)
                && json.TryGetProperty("messageType", out _))
            {
                if (json.TryGetProperty("messageId", out var envelopeId) && Guid.TryParse(envelopeId.GetString(), out var parsed))
                    messageId ??= parsed;
                json = inner;
            }
            return operation switch
            {
                UpdateLeadSegment.Queue => json.Deserialize<UpdateLeadSegment>(JsonSerializerOptions.Web),
                UpdateMarketingPermissions.Queue => json.Deserialize<UpdateMarketingPermissions>(JsonSerializerOptions.Web),
                UpdateCustomerPromotionList.Queue => json.Deserialize<UpdateCustomerPromotionList>(JsonSerializerOptions.Web),
                _ => null,
            };
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException)
        {
            return null;
        }
    }
}
