using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Worker.Health;

/// <summary>
/// Ready only while PostgreSQL answers: not while an outage is on, and not when a probe asked now has no answer (which
/// starts one). The probe has a bound of its own, so a silent database makes readiness say so, not hang.
/// </summary>
public sealed class PostgresHealthCheck(DependencyOutages outages) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken)
    {
        if (!outages.Database.IsAway && await outages.ProbeDatabaseAsync(cancellationToken) is { } why)
            outages.GoneAway(outages.Database, why);
        return outages.Database.IsAway
            ? HealthCheckResult.Unhealthy(DependencyOutages.Describe(outages.Database))
            : HealthCheckResult.Healthy();
    }
}

/// <summary>Ready only while the broker connection is up (a refusal by the broker is BrokerRefusals' to tell).</summary>
public sealed class BrokerOutageHealthCheck(DependencyOutages outages) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken) =>
        Task.FromResult(outages.Broker.IsAway
            ? HealthCheckResult.Unhealthy(DependencyOutages.Describe(outages.Broker))
            : HealthCheckResult.Healthy());
}
