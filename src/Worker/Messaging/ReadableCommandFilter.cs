using System.Runtime.Serialization;
using MassTransit;

namespace Worker.Messaging;

/// <summary>
/// Refuses, ahead of the consumer and outside its retries, what can't be a command: an empty or oversized body, or
/// a content type other than JSON or MassTransit's JSON envelope. Left alone, MassTransit would read an unknown content type as JSON and an empty
/// body as a command with every field missing.
/// </summary>
public sealed class ReadableCommandFilter(int maxMessageBytes) : IFilter<ConsumeContext>
{
    static readonly HashSet<string> Accepted = new(StringComparer.OrdinalIgnoreCase)
    {
        "application/json", "application/vnd.masstransit+json",
    };

    public Task Send(ConsumeContext context, IPipe<ConsumeContext> next)
    {
        // A message without a content type is taken as plain JSON, as most AMQP clients send it that way.
        var contentType = context.ReceiveContext.ContentType?.MediaType;
        if (contentType is not null && !Accepted.Contains(contentType))
            throw new UnsupportedContentTypeException(contentType);
        var length = context.ReceiveContext.Body.Length ?? context.ReceiveContext.Body.GetBytes().Length;
        if (length > maxMessageBytes)
            throw new MessageTooLargeException(length, maxMessageBytes);
        if (length == 0)
            throw new SerializationException("The message body is empty");
        return next.Send(context);
    }

    public void Probe(ProbeContext context) => context.CreateFilterScope("readableCommand");
}

public sealed class UnsupportedContentTypeException(string contentType)
    : SerializationException($"The content type {contentType} is neither application/json nor application/vnd.masstransit+json");

public sealed class MessageTooLargeException(long length, int limit)
    : SerializationException($"The message body has {length} bytes; at most {limit} are accepted")
{
    public int Limit { get; } = limit;
}
