using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace Worker.Health;

/// <summary>
/// A small HTTP listener for orchestrators: <c>/health/live</c> answers 200 while the process runs;
/// <c>/health/ready</c> answers 200 only while the broker connection and PostgreSQL are both up, 503 otherwise;
/// <c>/metrics</c> serves the worker's metrics to Prometheus.
/// </summary>
public sealed class HealthEndpoint(HealthCheckService checks, IOptions<HealthOptions> options, ILogger<HealthEndpoint> logger,
    IServiceProvider services) : IHostedService, IAsyncDisposable
{
    public const string LivePath = "/health/live";
    public const string ReadyPath = "/health/ready";
    public const string MetricsPath = "/metrics";

    WebApplication? _app;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(options.Value.Urls)) return;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(options.Value.Urls);
        builder.Logging.ClearProviders();
        _app = builder.Build();
        _app.MapGet(LivePath, () => Results.Ok(new { status = "Healthy" }));
        _app.MapGet(ReadyPath, ReadyAsync);
        // The host's meters, in Prometheus's text format (this listener has a container of its own).
        if (services.GetService<MeterProvider>() is { } meters) _app.MapPrometheusScrapingEndpoint(MetricsPath, meters, null, null);
        try
        {
            await _app.StartAsync(cancellationToken);
        }
        catch (IOException e)
        {
            // Kestrel: "Failed to bind to address ...: address already in use."
            throw new StartupFailure($"The health endpoint cannot listen on {options.Value.Urls} ({e.Message.TrimEnd('.')}); " +
                "set Health__Urls to a free address, or to an empty value to turn it off", StartupFailure.CannotListen, e);
        }
        logger.LogInformation("Health endpoint on {Urls}", string.Join(", ", _app.Urls));
    }

    async Task<IResult> ReadyAsync(CancellationToken cancellationToken)
    {
        var report = await checks.CheckHealthAsync(check => check.Tags.Contains("ready"), cancellationToken);
        var body = new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => e.Value.Status.ToString()),
            // Why a check is down, in words an operator can act on (the broker's refusal, say).
            reasons = report.Entries.Where(e => e.Value.Status != HealthStatus.Healthy && e.Value.Description is not null)
                .ToDictionary(e => e.Key, e => e.Value.Description),
        };
        return Results.Json(body, JsonSerializerOptions.Web,
            statusCode: report.Status == HealthStatus.Healthy ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
    }

    /// <summary>The address actually bound (useful with port 0).</summary>
    public string? Address => _app?.Urls.FirstOrDefault();

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null) await _app.StopAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null) await _app.DisposeAsync();
    }
}
