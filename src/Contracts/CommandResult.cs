using System.Text.Json;
using MassTransit;

namespace Contracts;

/// <summary>
/// What every result event carries: the answered command, and the HTTP status and body the documented API would
/// have answered, verbatim, so a subscriber can relay it unchanged.
/// </summary>
[ExcludeFromTopology]
public abstract record CommandResult
{
    /// <summary>The correlation id of the command (X-Correlation-Id in the documented APIs).</summary>
    public string? CorrelationId { get; init; }

    /// <summary>The message id of the command this result answers.</summary>
    public Guid? CommandMessageId { get; init; }

    /// <summary>The HTTP status the documented API answers, e.g. 200, 404, 422.</summary>
    public int Status { get; init; }

    /// <summary>The documented response body.</summary>
    public JsonElement Body { get; init; }
}
