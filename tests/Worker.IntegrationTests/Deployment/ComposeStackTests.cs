using System.Diagnostics;
using System.Text.Json;
using Worker.IntegrationTests.Infrastructure;
using Worker.IntegrationTests.Security;
using Xunit.Abstractions;

namespace Worker.IntegrationTests.Deployment;

/// <summary>
/// README's second way to start, run: <c>docker compose up --build</c> of docker-compose.yml with Debian's
/// docker-compose, the worker built by compose from src/Worker/Dockerfile, its connection strings from the compose
/// secrets, the README's publisher command answered by the worker in the stack, Prometheus scraping it with the alert
/// rules loaded, and
/// <c>down -v</c> leaving nothing behind. Needs a container engine (scripts/test.sh says when it is not run).
/// </summary>
[Trait("Needs", "Containers")]
public sealed class ComposeStackTests(ITestOutputHelper output)
{
    static readonly string[] HealthChecked = ["rabbitmq", "postgres", "worker"];

    [Fact]
    public async Task The_compose_stack_comes_up_healthy_answers_the_READMEs_publisher_is_scraped_and_leaves_nothing_after_down()
    {
        var watch = Stopwatch.StartNew();
        await using var stack = await ComposeStack.StartAsync(TimeSpan.FromMinutes(10));
        output.WriteLine($"up --build -d returned after {watch.Elapsed.TotalSeconds:F1} s");

        // Every health check goes healthy: the broker's and the database's before the import and the worker start
        // (compose waits on them), the worker's own command once it is ready.
        var healthy = new Dictionary<string, string>();
        for (var deadline = Stopwatch.StartNew(); deadline.Elapsed < TimeSpan.FromMinutes(2); await Task.Delay(500))
        {
            foreach (var service in HealthChecked) healthy[service] = await stack.HealthOfAsync(service);
            if (healthy.Values.All(status => status == "healthy")) break;
        }
        output.WriteLine($"healthy after {watch.Elapsed.TotalSeconds:F1} s: {string.Join(", ", healthy.Select(h => $"{h.Key} {h.Value}"))}");
        Assert.All(HealthChecked, service => Assert.Equal("healthy", healthy[service]));
        var import = (await stack.ContainerOfAsync("import")).GetProperty("State");
        Assert.Equal("exited", import.GetProperty("Status").GetString());
        Assert.Equal(0, import.GetProperty("ExitCode").GetInt32());

        // The worker's connection strings are the compose secrets, files under /run/secrets: none in its environment.
        var worker = await stack.ContainerOfAsync("worker");
        var environment = worker.GetProperty("Config").GetProperty("Env").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.DoesNotContain(environment, e => e.StartsWith("ConnectionStrings", StringComparison.OrdinalIgnoreCase));
        var mounted = worker.GetProperty("Mounts").EnumerateArray().Select(m => m.GetProperty("Destination").GetString()).ToList();
        Assert.Contains("/run/secrets/ConnectionStrings__RabbitMq", mounted);
        Assert.Contains("/run/secrets/ConnectionStrings__Postgres", mounted);

        // The command at the top of docker-compose.yml, with the publisher's own secret file (its port the stack's).
        var secret = File.ReadAllText(Path.Combine(LocalServices.RepositoryRoot(), "deploy", "secrets", "publisher-rabbitmq")).Trim();
        var secretFile = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(secretFile, new UriBuilder(secret) { Port = stack.RabbitMqPort }.Uri.ToString());
            var (exitCode, answer, errors) = await ProgramRun.RunAsync("Publisher.dll",
                ["lead-segment", "update", "--enterprise", "acme", "--id", "1234", "--code", "X", "--wait"],
                new Dictionary<string, string> { ["ConnectionStrings__RabbitMq_FILE"] = secretFile });
            output.WriteLine(answer + errors);
            Assert.Equal(0, exitCode);
            Assert.Contains("lead-segment-updated: status 200", answer);
            var body = JsonDocument.Parse(answer[answer.IndexOf('{')..]).RootElement.GetProperty("data");
            Assert.Equal("1234", body.GetProperty("id").GetString());
            Assert.Equal("X", body.GetProperty("code").GetString());
            // The demo data the import job loaded: lead segment 1234's description is the sample's.
            Assert.Equal("New customer", body.GetProperty("description").GetString());
        }
        finally
        {
            File.Delete(secretFile);
        }

        // Prometheus (deploy/prometheus.yml) scrapes the worker by its service name, and has seen that command.
        var (up, answered) = (0.0, 0.0);
        using (var prometheus = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{stack.PrometheusPort}/"), Timeout = TimeSpan.FromSeconds(5) })
        {
            for (var deadline = Stopwatch.StartNew(); deadline.Elapsed < TimeSpan.FromSeconds(90); await Task.Delay(1000))
            {
                up = await QueryAsync(prometheus, "up{job=\"update-worker\"}");
                answered = await QueryAsync(prometheus, "sum(worker_commands_total)");
                if (up == 1 && answered >= 1) break;
            }
        }
        output.WriteLine($"Prometheus: up {up}, worker_commands_total {answered}");
        Assert.Equal(1, up);
        Assert.True(answered >= 1, $"Prometheus's worker_commands_total is {answered}");
        // And it loaded the alert rules the file mounts beside its configuration.
        using (var prometheus = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{stack.PrometheusPort}/") })
        {
            using var rules = JsonDocument.Parse(await prometheus.GetStringAsync("api/v1/rules"));
            Assert.Equal(7, rules.RootElement.GetProperty("data").GetProperty("groups").EnumerateArray()
                .Sum(group => group.GetProperty("rules").GetArrayLength()));
        }

        var (downExit, downOutput) = await stack.DownAsync();
        output.WriteLine(downOutput);
        Assert.Equal(0, downExit);
        var label = $"{ComposeStack.ProjectLabel}={stack.Project}";
        Assert.Empty(await stack.Engine.ListAsync("containers", label));
        Assert.Empty(await stack.Engine.ListAsync("networks", label, all: false));
        Assert.Empty(await stack.Engine.ListAsync("volumes", label, all: false));
        output.WriteLine($"the whole run took {watch.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>An instant query's single value, or 0 when it has none (yet).</summary>
    static async Task<double> QueryAsync(HttpClient prometheus, string query)
    {
        try
        {
            var answer = JsonDocument.Parse(await prometheus.GetStringAsync($"api/v1/query?query={Uri.EscapeDataString(query)}")).RootElement;
            var result = answer.GetProperty("data").GetProperty("result");
            return result.GetArrayLength() == 0 ? 0
                : double.Parse(result[0].GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (HttpRequestException)
        {
            return 0; // not listening yet
        }
    }
}
