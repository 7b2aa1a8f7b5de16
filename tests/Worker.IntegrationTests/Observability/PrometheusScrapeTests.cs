using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Contracts.LeadSegments;
using Microsoft.Extensions.DependencyInjection;
using Worker.Health;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.Observability;

/// <summary>A real Prometheus (Debian's package) scrapes the worker and answers PromQL over what it counted.</summary>
[Collection(WorkerCollection.Name)]
public sealed class PrometheusScrapeTests(WorkerFixture fixture) : IAsyncLifetime
{
    public Task InitializeAsync() => fixture.ResetAsync();
    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Prometheus_scrapes_the_worker_and_answers_a_query_over_its_commands()
    {
        var correlationId = $"prom-{Guid.NewGuid():N}";
        await fixture.SendJsonAsync(UpdateLeadSegment.Queue,
            new { correlationId, enterprise = "acme", id = "1234", body = new { description = "scraped" } });
        Assert.Equal(200, (await fixture.Results.WaitForAsync(correlationId)).Status);

        var target = new Uri(fixture.Worker.Services.GetRequiredService<HealthEndpoint>().Address!);
        var folder = Directory.CreateTempSubdirectory("prometheus-");
        var port = FreePort();
        // The scrape configuration of deploy/prometheus.yml, pointed at this worker and scraping every second.
        var config = File.ReadAllText(Path.Combine(LocalServices.RepositoryRoot(), "deploy", "prometheus.yml"))
            .Replace("scrape_interval: 15s", "scrape_interval: 1s")
            .Replace("worker:8081", $"{target.Host}:{target.Port}");
        File.WriteAllText(Path.Combine(folder.FullName, "prometheus.yml"), config);
        using var prometheus = Process.Start(new ProcessStartInfo("prometheus",
            $"--config.file={folder.FullName}/prometheus.yml --storage.tsdb.path={folder.FullName}/data " +
            $"--web.listen-address=127.0.0.1:{port}")
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        })!;
        prometheus.OutputDataReceived += (_, _) => { };
        prometheus.ErrorDataReceived += (_, _) => { };
        prometheus.BeginOutputReadLine();
        prometheus.BeginErrorReadLine();
        try
        {
            using var client = new HttpClient();
            var query = Uri.EscapeDataString(
                $"sum(worker_commands_total{{queue=\"{UpdateLeadSegment.Queue}\",outcome=\"succeeded\",status=\"200\"}})");
            double? counted = null;
            for (var waited = Stopwatch.StartNew(); counted is null && waited.Elapsed < TimeSpan.FromSeconds(30);)
            {
                await Task.Delay(500);
                try
                {
                    using var answer = JsonDocument.Parse(await client.GetStringAsync($"http://127.0.0.1:{port}/api/v1/query?query={query}"));
                    var result = answer.RootElement.GetProperty("data").GetProperty("result");
                    if (result.GetArrayLength() > 0) counted = double.Parse(result[0].GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture);
                }
                catch (HttpRequestException)
                {
                    // Not listening yet.
                }
            }
            Assert.True(counted >= 1, $"Prometheus counted {counted?.ToString() ?? "nothing"}");
        }
        finally
        {
            prometheus.Kill();
            await prometheus.WaitForExitAsync();
            folder.Delete(recursive: true);
        }
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
