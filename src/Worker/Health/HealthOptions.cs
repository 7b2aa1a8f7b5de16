namespace Worker.Health;

public sealed class HealthOptions
{
    public const string Section = "Health";

    /// <summary>Where /health/live and /health/ready listen; empty turns the endpoint off.</summary>
    public string Urls { get; set; } = "http://127.0.0.1:8081";
}
