using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Worker.Observability;

public static class ObservabilitySetup
{
    /// <summary>Where OpenTelemetry's own configuration keys say to send traces and metrics over OTLP.</summary>
    public const string OtlpEndpointSetting = "OTEL_EXPORTER_OTLP_ENDPOINT";

    public const string DefaultServiceName = "update-worker";

    /// <summary>The worker's meter, for whatever records to it (the lanes, the consumers, the error filters).</summary>
    public static IServiceCollection AddWorkerMetrics(this IServiceCollection services)
    {
        services.AddMetrics();
        services.TryAddSingleton<WorkerMetrics>();
        services.TryAddSingleton<CommandAnswers>();
        return services;
    }

    /// <summary>
    /// Metrics and traces through OpenTelemetry. Metrics (the worker's own, MassTransit's, Npgsql's and the .NET
    /// runtime's) are kept for Prometheus to scrape at <c>/metrics</c> on the health listener. Traces (each command's
    /// span, the database statements beneath it, the result event's publish) are made so that the trace context
    /// travels on with the result event; they leave the process only over OTLP, only when
    /// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (metrics then go there too). Either can be switched off
    /// (<see cref="ObservabilityOptions"/>).
    /// </summary>
    public static IServiceCollection AddObservability(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddWorkerMetrics();
        services.AddOptions<ObservabilityOptions>().BindConfiguration(ObservabilityOptions.Section);
        var options = configuration.GetSection(ObservabilityOptions.Section).Get<ObservabilityOptions>() ?? new();
        if (!options.Metrics && !options.Tracing) return services;

        var otlp = !string.IsNullOrWhiteSpace(configuration[OtlpEndpointSetting]);
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(configuration["OTEL_SERVICE_NAME"] ?? DefaultServiceName));
        if (options.Metrics)
        {
            telemetry.WithMetrics(metrics =>
            {
                metrics.AddMeter(WorkerMetrics.MeterName, "MassTransit", "Npgsql")
                    .AddRuntimeInstrumentation()
                    .AddPrometheusExporter();
                if (otlp) metrics.AddOtlpExporter();
            });
        }
        if (options.Tracing)
        {
            telemetry.WithTracing(tracing =>
            {
                tracing.AddSource(CommandTracing.SourceName, "Npgsql");
                if (otlp) tracing.AddOtlpExporter();
            });
        }
        return services;
    }
}

public sealed class ObservabilityOptions
{
    public const string Section = "Observability";

    /// <summary>The meters behind <c>/metrics</c>; off, the endpoint is not there.</summary>
    public bool Metrics { get; set; } = true;

    /// <summary>Spans, and W3C trace context on result events; off, result events carry no <c>traceparent</c>.</summary>
    public bool Tracing { get; set; } = true;
}
