namespace Contracts;

/// <summary>
/// How one API words the answers that never reach its rules: a request that cannot be read, an unexpected failure,
/// and the answers a front door gives itself (no token, a token without the grant, no result in time). Every API
/// has its own error shape, so each error catalog implements this in that shape.
/// </summary>
public interface IApiErrors
{
    static abstract ApiAnswer Unreadable(UnreadableReason reason, string detail);

    static abstract ApiAnswer Unexpected();

    /// <summary>
    /// Not in the APIs' catalogs: a command sent again from the error queue (<c>worker redrive</c>) whose document has
    /// taken a later command since it failed at <paramref name="failedAt"/>. It is not applied over that later change.
    /// </summary>
    static abstract ApiAnswer Superseded(DateTimeOffset failedAt);

    static abstract ApiAnswer Unauthenticated();

    static abstract ApiAnswer Forbidden(string needed);

    static abstract ApiAnswer TimedOut(TimeSpan waited);
}

/// <summary>Why a request could not be read as a command; APIs such as Payway answer each with its own code.</summary>
public enum UnreadableReason
{
    /// <summary>Empty, not JSON, or JSON of the wrong shape for the command.</summary>
    NotJson,

    /// <summary>A content type other than application/json or MassTransit's JSON envelope.</summary>
    ContentType,

    /// <summary>A body over the configured size limit.</summary>
    TooLarge,
}
