using System.Runtime.Serialization;
using System.Text.Json;
using MassTransit;

namespace Worker.Messaging;

/// <summary>
/// Refuses, ahead of the consumer and outside its retries, what can't be a command: an empty or oversized body, a
/// content type other than JSON or MassTransit's JSON envelope, or a string PostgreSQL cannot store. Left alone, MassTransit would read an unknown content type as JSON and an empty
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
        if (HasNulCharacter(context.ReceiveContext.Body.GetBytes()))
            throw new SerializationException("The message has a string with the character U+0000, which cannot be stored");
        return next.Send(context);
    }

    /// <summary>
    /// Whether a JSON string in the body holds U+0000 (written \u0000): PostgreSQL refuses it in text and jsonb, so
    /// such a command could only fail later, as a 500.
    /// </summary>
    static bool HasNulCharacter(byte[] body)
    {
        if (body.AsSpan().IndexOf("\\u0000"u8) < 0) return false;
        var reader = new Utf8JsonReader(body);
        try
        {
            while (reader.Read())
            {
                if (reader.TokenType is JsonTokenType.String or JsonTokenType.PropertyName && reader.ValueIsEscaped
                    && reader.GetString()!.Contains('\0')) return true;
            }
        }
        catch (JsonException)
        {
            // Not JSON at all: reading the command says so.
        }
        return false;
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
