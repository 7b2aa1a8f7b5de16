using System.ComponentModel.DataAnnotations;

namespace Worker.Startup;

public sealed class StartupOptions
{
    public const string Section = "Startup";

    /// <summary>
    /// How long the worker waits at start for the broker and the database to answer (they may still be starting, as
    /// under docker compose) before it gives up with <see cref="StartupFailure.ServiceUnavailable"/>.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan WaitForServices { get; set; } = TimeSpan.FromSeconds(60);
}
