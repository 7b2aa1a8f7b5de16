using System.Globalization;

namespace Worker.Redrive;

/// <summary>
/// <c>worker redrive [--dry-run] [--queue NAME] [--document KEY] [--since TIME] [--limit N] [--apply-superseded]</c>:
/// which failed commands go back, and how.
/// </summary>
public sealed record RedriveOptions
{
    public bool DryRun { get; init; }
    /// <summary>One operation's queue (e.g. update-lead-segment); all three by default.</summary>
    public string? Queue { get; init; }
    /// <summary>Only the commands of this document: its partition key (lead segment <c>enterprise/id</c>, account id, ...).</summary>
    public string? Document { get; init; }
    /// <summary>Only the commands that failed at or after this moment.</summary>
    public DateTimeOffset? Since { get; init; }
    /// <summary>At most this many commands go back.</summary>
    public int? Limit { get; init; }
    /// <summary>Apply commands whose document has taken a later command since, instead of answering them as superseded.</summary>
    public bool ApplySuperseded { get; init; }

    /// <summary>Whether the filters select the command.</summary>
    public bool Selects(FailedCommand command) =>
        (Document is null || string.Equals(command.Document, Document, StringComparison.OrdinalIgnoreCase))
        && (Since is null || command.FailedAt >= Since);

    public static RedriveOptions Parse(IReadOnlyList<string> arguments)
    {
        var options = new RedriveOptions();
        for (var i = 0; i < arguments.Count; i++)
        {
            string Value() => i + 1 < arguments.Count ? arguments[++i]
                : throw new ArgumentException($"{arguments[i]} needs a value");
            options = arguments[i] switch
            {
                "--dry-run" => options with { DryRun = true },
                "--apply-superseded" => options with { ApplySuperseded = true },
                "--queue" => options with { Queue = Value() },
                "--document" => options with { Document = Value() },
                "--since" => options with
                {
                    Since = DateTimeOffset.TryParse(Value(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var since)
                        ? since : throw new ArgumentException($"--since {arguments[i]} is not a date and time (e.g. 2026-12-07T10:00:00Z)"),
                },
                "--limit" => options with
                {
                    Limit = int.TryParse(Value(), out var limit) && limit > 0
                        ? limit : throw new ArgumentException($"--limit {arguments[i]} is not a positive number"),
                },
                _ => throw new ArgumentException($"unknown option {arguments[i]}; usage: worker redrive [--dry-run] " +
                    "[--queue NAME] [--document KEY] [--since TIME] [--limit N] [--apply-superseded]"),
            };
        }
        return options;
    }
}
