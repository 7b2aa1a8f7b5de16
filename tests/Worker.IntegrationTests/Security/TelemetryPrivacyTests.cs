using System.Diagnostics;
using Contracts.LeadSegments;
using Npgsql;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.Security;

/// <summary>
/// Metrics and traces go to whoever scrapes or collects them; the database's host, port, name and user, and any
/// certificate path in the connection string, are the operator's business, not theirs.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class TelemetryPrivacyTests(WorkerFixture fixture) : IAsyncLifetime
{
    public Task InitializeAsync() => fixture.ResetAsync();
    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Metrics_and_spans_name_the_database_pool_worker_and_carry_no_connection_details()
    {
        var database = new NpgsqlConnectionStringBuilder(fixture.Services.Postgres);
        var spans = new List<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = span => { lock (spans) spans.Add(span); },
        };
        ActivitySource.AddActivityListener(listener);

        var correlationId = $"privacy-{Guid.NewGuid():N}";
        await fixture.SendJsonAsync(UpdateLeadSegment.Queue, new { correlationId, enterprise = "acme", id = "1234", body = new { description = "p" } });
        await fixture.Results.WaitForAsync(correlationId);

        // The metrics of a worker process of its own: the tests' own data sources share the in-process meters.
        await using var worker = await WorkerProcess.StartAsync(fixture.Services);
        var exposition = await worker.MetricsAsync();
        Assert.Matches("pool_name=\"worker\"", exposition);
        Assert.DoesNotContain("Username=", exposition);
        Assert.DoesNotContain($"Port={database.Port}", exposition);

        List<Activity> recorded;
        lock (spans) recorded = [.. spans];
        Assert.NotEmpty(recorded);
        var tags = recorded.SelectMany(span => span.TagObjects).ToList();
        Assert.DoesNotContain(tags, tag => tag.Key is "db.connection_string" or "db.user" or "server.address"
            or "server.port" or "net.peer.name" or "network.peer.address" or "db.name" or "db.namespace");
        Assert.DoesNotContain(tags, tag => tag.Value?.ToString() is { } value
            && (value.Contains("Username") || value.Contains(database.Port.ToString())));
    }
}
