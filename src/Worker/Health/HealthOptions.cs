using System.ComponentModel.DataAnnotations;

namespace Worker.Health;

public sealed class HealthOptions
{
    public const string Section = "Health";

    /// <summary>Where /health/live and /health/ready listen; empty turns the endpoint off.</summary>
    public string Urls { get; set; } = "http://127.0.0.1:8081";

    /// <summary>
    /// How often the database is asked whether it answers (a <c>select 1</c> on a connection of its own), and the broker
    /// connection's state is read. With <see cref="ProbeTimeout"/> it bounds how long a database that went silent goes
    /// unnoticed.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>A probe that has no answer within this long counts as a database that is away.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// While a dependency stays away, the log says so again after this long, then after twice as long each time, up to
    /// 16 times this long between lines.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan OutageReminder { get; set; } = TimeSpan.FromMinutes(1);
}
