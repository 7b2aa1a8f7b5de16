using System.Globalization;
using MassTransit;

namespace Worker.Redrive;

/// <summary>
/// What <c>worker redrive</c> adds to a command it sends back from an error queue: when it failed. A document that
/// took a later command after that moment is not changed back by it: the command is answered with the API's
/// <see cref="Contracts.IApiErrors.Superseded"/> instead (decision 0012). <c>--apply-superseded</c> leaves the header
/// out, and the command is applied as any other.
/// </summary>
public static class RedriveHeaders
{
    public const string FailedAt = "x-redrive-failed-at";
    /// <summary>The queue the command was taken from, for the operator reading the command's log line.</summary>
    public const string From = "x-redrive-from";

    /// <summary>When the command failed, if it was sent back by a re-drive that keeps later changes.</summary>
    public static DateTimeOffset? FailedAtOf(ConsumeContext context) =>
        context.Headers.Get<string>(FailedAt) is { } text
        && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
            ? at : null;
}
