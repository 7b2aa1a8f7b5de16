using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Contracts.LeadSegments;
using Contracts.MarketingPermissions;
using Microsoft.Extensions.DependencyInjection;
using Worker.Health;
using Worker.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Worker.IntegrationTests.Observability;

/// <summary>
/// A real Prometheus (Debian's package) scrapes the worker with deploy/prometheus.yml and its alert rules, and answers
/// PromQL over what it counted: a query of our own, every panel's query of the Grafana dashboard
/// (deploy/grafana/update-worker-dashboard.json) and every alert rule's expression, with the worker under load.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class PrometheusScrapeTests(WorkerFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    public Task InitializeAsync() => fixture.ResetAsync();
    public Task DisposeAsync() => Task.CompletedTask;

    static string Deploy(params string[] path) => Path.Combine([LocalServices.RepositoryRoot(), "deploy", .. path]);

    [Fact]
    public async Task Prometheus_scrapes_the_worker_and_answers_a_query_over_its_commands()
    {
        var correlationId = $"prom-{Guid.NewGuid():N}";
        await fixture.SendJsonAsync(UpdateLeadSegment.Queue,
            new { correlationId, enterprise = "acme", id = "1234", body = new { description = "scraped" } });
        Assert.Equal(200, (await fixture.Results.WaitForAsync(correlationId)).Status);

        await using var prometheus = await PrometheusRun.StartAsync(fixture);
        var counted = await prometheus.WaitForValueAsync(
            $"sum(worker_commands_total{{queue=\"{UpdateLeadSegment.Queue}\",outcome=\"succeeded\",status=\"200\"}})", TimeSpan.FromSeconds(30));
        Assert.True(counted >= 1, $"Prometheus counted {counted?.ToString() ?? "nothing"}");
    }

    [Fact]
    public async Task Every_dashboard_panel_and_alert_rule_query_returns_data_from_a_worker_under_load()
    {
        await using var prometheus = await PrometheusRun.StartAsync(fixture);
        // Scraping before the load begins, so that every counter's increase is seen, not only its first value.
        Assert.Equal(1, await prometheus.WaitForValueAsync("up{job=\"update-worker\"}", TimeSpan.FromSeconds(30)));
        // Load of every kind the panels show: applied, refused, unreadable (set aside), repeated, on two queues.
        var run = Guid.NewGuid().ToString("N")[..8];
        var answered = new List<string>();
        for (var i = 0; i < 300; i++)
        {
            var id = $"load-{run}-{i}";
            if (i % 100 != 2) answered.Add(id);
            switch (i % 10)
            {
                case 0:
                    await fixture.SendJsonAsync(UpdateLeadSegment.Queue, new { correlationId = id, enterprise = "acme", id = "1234", body = new { code = "" } });
                    break;
                case 1:
                    await fixture.SendRawAsync(UpdateMarketingPermissions.Queue, Encoding.UTF8.GetBytes("""{"correlationId": "ID", "body": {"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": [{"id": "5b9707e317c0f859830000c3", "enabled": true}]}}""".Replace("ID", id)));
                    break;
                case 2 when i % 100 == 2:
                    await fixture.SendRawAsync(UpdateLeadSegment.Queue, "not json"u8.ToArray(), correlationId: id);
                    break;
                case 3:
                    var messageId = Guid.NewGuid().ToString();
                    await fixture.SendJsonAsync(UpdateLeadSegment.Queue, new { correlationId = id, enterprise = "acme", id = "5678", body = new { description = $"load {i}" } }, messageId);
                    await fixture.SendJsonAsync(UpdateLeadSegment.Queue, new { correlationId = id, enterprise = "acme", id = "5678", body = new { description = $"load {i}" } }, messageId);
                    break;
                default:
                    await fixture.SendJsonAsync(UpdateLeadSegment.Queue, new { correlationId = id, enterprise = "acme", id = "1234", body = new { description = $"load {i}" } });
                    break;
            }
            if (i % 30 == 29) await Task.Delay(300);
        }
        foreach (var id in answered) await fixture.Results.WaitForAsync(id);
        await fixture.DrainAsync(UpdateLeadSegment.Queue + "_error");

        using var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(Deploy("grafana", "update-worker-dashboard.json")));
        var queries = dashboard.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(panel => panel.GetProperty("targets").EnumerateArray().Select(target =>
                (Name: $"panel \"{panel.GetProperty("title").GetString()}\"", Expression: target.GetProperty("expr").GetString()!)))
            .ToList();
        Assert.True(queries.Count >= 10, $"the dashboard has {queries.Count} queries");
        // Grafana's $__rate_interval is at least four scrape intervals; one minute here (scrapes every second).
        var missing = new List<string>();
        foreach (var (name, expression) in queries)
        {
            var query = expression.Replace("$__rate_interval", "1m");
            var found = await prometheus.WaitForSeriesAsync(query, TimeSpan.FromSeconds(30));
            output.WriteLine($"{name}: {found} series for {query}");
            if (found == 0) missing.Add($"{name}: {query}");
        }
        Assert.Empty(missing);

        // The alert rules as Prometheus loaded them from deploy/update-worker-alerts.yml: every one evaluated without
        // error. Under this load the unreadable commands set aside are what an operator is told about, and only that.
        List<JsonElement> evaluated = [];
        List<string?> firing = [];
        for (var waited = Stopwatch.StartNew(); waited.Elapsed < TimeSpan.FromSeconds(30); await Task.Delay(500))
        {
            using var rules = JsonDocument.Parse(await prometheus.GetAsync("api/v1/rules"));
            evaluated = rules.RootElement.GetProperty("data").GetProperty("groups").EnumerateArray()
                .SelectMany(group => group.GetProperty("rules").EnumerateArray()).Select(rule => rule.Clone()).ToList();
            firing = evaluated.Where(rule => rule.GetProperty("state").GetString() == "firing").Select(rule => rule.GetProperty("name").GetString()).ToList();
            if (firing.Count > 0) break;
        }
        output.WriteLine(string.Join("\n", evaluated.Select(rule => $"{rule.GetProperty("name").GetString()}: {rule.GetProperty("health").GetString()} {rule.GetProperty("state").GetString()}")));
        Assert.Equal(7, evaluated.Count);
        Assert.All(evaluated, rule => Assert.Equal("ok", rule.GetProperty("health").GetString()));
        Assert.Equal(["UpdateWorkerErrorQueueGrowing"], firing);
    }

    /// <summary>Prometheus with deploy/prometheus.yml and its rules, scraping the fixture's worker every second.</summary>
    sealed class PrometheusRun : IAsyncDisposable
    {
        readonly Process _process;
        readonly DirectoryInfo _folder;
        readonly HttpClient _client;

        PrometheusRun(Process process, DirectoryInfo folder, int port) =>
            (_process, _folder, _client) = (process, folder, new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") });

        public static async Task<PrometheusRun> StartAsync(WorkerFixture fixture)
        {
            var target = new Uri(fixture.Worker.Services.GetRequiredService<HealthEndpoint>().Address!);
            var folder = Directory.CreateTempSubdirectory("prometheus-");
            var port = LocalServices.FreePort();
            var config = (await File.ReadAllTextAsync(Deploy("prometheus.yml")))
                .Replace("scrape_interval: 15s", "scrape_interval: 1s\n  evaluation_interval: 1s")
                .Replace("worker:8081", $"{target.Host}:{target.Port}");
            await File.WriteAllTextAsync(Path.Combine(folder.FullName, "prometheus.yml"), config);
            File.Copy(Deploy("update-worker-alerts.yml"), Path.Combine(folder.FullName, "update-worker-alerts.yml"));
            var process = Process.Start(new ProcessStartInfo("prometheus",
                $"--config.file={folder.FullName}/prometheus.yml --storage.tsdb.path={folder.FullName}/data " +
                $"--web.listen-address=127.0.0.1:{port}")
            {
                RedirectStandardOutput = true, RedirectStandardError = true,
            })!;
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return new PrometheusRun(process, folder, port);
        }

        public Task<string> GetAsync(string path) => _client.GetStringAsync(path);

        async Task<JsonElement?> QueryAsync(string query)
        {
            try
            {
                using var answer = JsonDocument.Parse(await GetAsync($"api/v1/query?query={Uri.EscapeDataString(query)}"));
                return answer.RootElement.GetProperty("data").GetProperty("result").Clone();
            }
            catch (HttpRequestException)
            {
                return null; // not listening yet
            }
        }

        /// <summary>How many series the query returns, once it returns any (or 0 after <paramref name="timeout"/>).</summary>
        public async Task<int> WaitForSeriesAsync(string query, TimeSpan timeout)
        {
            for (var waited = Stopwatch.StartNew(); ; await Task.Delay(500))
            {
                if (await QueryAsync(query) is { } result && result.GetArrayLength() > 0) return result.GetArrayLength();
                if (waited.Elapsed > timeout) return 0;
            }
        }

        /// <summary>The query's first value, once it has one.</summary>
        public async Task<double?> WaitForValueAsync(string query, TimeSpan timeout)
        {
            for (var waited = Stopwatch.StartNew(); waited.Elapsed < timeout; await Task.Delay(500))
            {
                if (await QueryAsync(query) is { } result && result.GetArrayLength() > 0)
                    return double.Parse(result[0].GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture);
            }
            return null;
        }

        public async ValueTask DisposeAsync()
        {
            _process.Kill();
            await _process.WaitForExitAsync();
            _client.Dispose();
            _folder.Delete(recursive: true);
        }
    }
}
