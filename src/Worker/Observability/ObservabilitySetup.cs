using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenTelemetry.Metrics;

namespace Worker.Observability;

public static class ObservabilitySetup
{
    /// <summary>The worker's meter, for whatever records to it (the lanes, the consumers, the error filters).</summary>
    public static IServiceCollection AddWorkerMetrics(this IServiceCollection services)
    {
        services.AddMetrics();
        services.TryAddSingleton<WorkerMetrics>();
        services.TryAddSingleton<CommandAnswers>();
        return services;
    }

    /// <summary>
    /// Metrics through OpenTelemetry: the worker's own, MassTransit's, Npgsql's and the .NET runtime's, kept for
    /// Prometheus to scrape at <c>/metrics</c> on the health listener. Nothing is sent anywhere: Prometheus pulls.
    /// </summary>
    public static IServiceCollection AddObservability(this IServiceCollection services)
    {
        services.AddWorkerMetrics();
        services.AddOpenTelemetry().WithMetrics(metrics => metrics
            .AddMeter(WorkerMetrics.MeterName, "MassTransit", "Npgsql")
            .AddRuntimeInstrumentation()
            .AddPrometheusExporter());
        return services;
    }
}
