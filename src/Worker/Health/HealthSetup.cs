namespace Worker.Health;

public static class HealthSetup
{
    public static IServiceCollection AddHealthEndpoint(this IServiceCollection services)
    {
        services.AddOptions<HealthOptions>().BindConfiguration(HealthOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<DependencyOutages>();
        services.AddHostedService<OutageWatch>();
        services.AddHealthChecks().AddCheck<PostgresHealthCheck>("postgres", tags: ["ready"])
            .AddCheck<BrokerOutageHealthCheck>("rabbitmq", tags: ["ready"]);
        // The health check service logs every unhealthy answer, with the check's exception and stack trace, and a
        // supervisor asks every few seconds: what is down is said by /health/ready itself and, once per interval,
        // by whoever knows why (BrokerRefusals, the storage's retries).
        services.Configure<LoggerFilterOptions>(filters =>
            filters.AddFilter("Microsoft.Extensions.Diagnostics.HealthChecks", LogLevel.Critical));
        services.AddSingleton<HealthEndpoint>();
        services.AddHostedService(sp => sp.GetRequiredService<HealthEndpoint>());
        return services;
    }

    /// <summary>`health`: exits 0 when the running worker is ready, 1 otherwise; for container health checks.</summary>
    public static async Task<int> ProbeAsync(string urls)
    {
        var url = urls.Split(';', StringSplitOptions.RemoveEmptyEntries)[0].Replace("0.0.0.0", "127.0.0.1").Replace("+", "127.0.0.1");
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await client.GetAsync($"{url.TrimEnd('/')}/health/ready");
            Console.WriteLine($"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            Console.WriteLine($"not reachable: {e.Message}");
            return 1;
        }
    }
}
