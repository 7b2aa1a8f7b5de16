namespace Worker.Messaging;

public sealed class MessagingOptions
{
    public const string Section = "Messaging";

    /// <summary>How many unacknowledged commands the broker hands one worker at a time.</summary>
    public ushort PrefetchCount { get; set; } = 64;

    /// <summary>Retries of a command that failed unexpectedly (a database outage, a dropped connection).</summary>
    public int RetryLimit { get; set; } = 8;

    public TimeSpan RetryMinInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan RetryMaxInterval { get; set; } = TimeSpan.FromSeconds(10);
}
