using System.Text.Json.Serialization;

namespace Worker.MarketingPermissions;

/// <summary>A Payway account and the marketing permissions its owner gave or refused, in <c>mt_doc_account</c>.</summary>
public sealed record Account : IVersionedDocument
{
    public required string Id { get; init; }
    public string? Name { get; init; }

    /// <summary>Permission id to whether the owner accepted it; a permission never answered is absent.</summary>
    public Dictionary<string, bool> MarketingPermissions { get; init; } = [];

    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>How many consent changes the account has had since the event store holds its history.</summary>
    public long ConsentChanges { get; init; }

    /// <summary>Marten's <c>mt_version</c>, read with the document and checked when it is written back.</summary>
    [JsonIgnore]
    public Guid Version { get; set; }
}

/// <summary>A marketing permission an account can be asked for, as in Payway's permission list.</summary>
public sealed record MarketingPermission
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public required string Type { get; init; }
    public string? Description { get; init; }
    public bool CheckedDefault { get; init; }

    /// <summary>An inactive permission is no longer offered: it can be withdrawn but not given.</summary>
    public bool Active { get; init; } = true;
}

/// <summary>
/// One entry of an account's consent history: an event in the account's stream of Marten's event store (the stream
/// key is the account id, the stream version numbers the changes 1, 2, 3, ...). Who changed which permission from
/// what to what, when, and in answer to which command.
/// </summary>
public sealed record ConsentChanged
{
    public required string PermissionId { get; init; }

    /// <summary>Null when the account had never answered this permission before.</summary>
    public bool? OldValue { get; init; }

    public bool NewValue { get; init; }
    public DateTimeOffset ChangedAt { get; init; }
    public required string CorrelationId { get; init; }
    public Guid? CommandMessageId { get; init; }
}
