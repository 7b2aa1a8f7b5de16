using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.Deployment;

/// <summary>
/// docker-compose.yml brought up by Debian's docker-compose against the engine at DOCKER_HOST, as a project of the
/// test run's own. Only what the file leaves to variables differs from a Docker user's run: the images (built here
/// from Debian's packages and this machine's .NET where no registry can be reached) and the loopback ports (free
/// ones, so that the stack runs beside anything else on the machine).
/// </summary>
public sealed class ComposeStack : IAsyncDisposable
{
    public const string ProjectLabel = "com.docker.compose.project";
    public string Project { get; }
    public int RabbitMqPort { get; } = LocalServices.FreePort();
    public int PostgresPort { get; } = LocalServices.FreePort();
    public int WorkerHealthPort { get; } = LocalServices.FreePort();
    public int PrometheusPort { get; } = LocalServices.FreePort();
    public ContainerEngine Engine { get; } = ContainerEngine.Connect();
    readonly Dictionary<string, string> _variables;
    HealthCheckTimer? _healthChecks;
    bool _down;

    ComposeStack()
    {
        // Compose keeps lower-case letters, digits, '-' and '_' of a project's name.
        Project = "worker-stack-" + (ServerContainers.RunId is { Length: > 0 } run ? run.ToLowerInvariant() : "local");
        _variables = new Dictionary<string, string>
        {
            ["RABBITMQ_PORT"] = RabbitMqPort.ToString(),
            ["RABBITMQ_MANAGEMENT_PORT"] = LocalServices.FreePort().ToString(),
            ["POSTGRES_PORT"] = PostgresPort.ToString(),
            ["WORKER_HEALTH_PORT"] = WorkerHealthPort.ToString(),
            ["PROMETHEUS_PORT"] = PrometheusPort.ToString(),
            // Compose's own build, through the engine's API, rather than a docker client's that may be installed.
            ["COMPOSE_DOCKER_CLI_BUILD"] = "0",
        };
        // Unset, each stays docker-compose.yml's default: the official image.
        foreach (var (variable, from) in new[]
                 {
                     ("RABBITMQ_IMAGE", ServerContainers.RabbitMqImageVariable), ("POSTGRES_IMAGE", ServerContainers.PostgresImageVariable),
                     ("PROMETHEUS_IMAGE", "WORKER_IT_PROMETHEUS_IMAGE"), ("WORKER_IMAGE", "WORKER_IT_WORKER_IMAGE"),
                     ("DOTNET_SDK_IMAGE", "WORKER_IT_DOTNET_SDK_IMAGE"), ("DOTNET_RUNTIME_IMAGE", "WORKER_IT_DOTNET_RUNTIME_IMAGE"),
                 })
        {
            if (Environment.GetEnvironmentVariable(from) is { Length: > 0 } image) _variables[variable] = image;
        }
    }

    public static async Task<ComposeStack> StartAsync(TimeSpan timeout)
    {
        var stack = new ComposeStack();
        try
        {
            stack._healthChecks = await HealthCheckTimer.StartAsync(stack.Engine, $"{ProjectLabel}={stack.Project}");
            var (exitCode, output) = await stack.RunAsync(timeout, "up", "--build", "-d");
            if (exitCode != 0) throw new InvalidOperationException($"docker-compose up ended with {exitCode}:\n{output}");
            return stack;
        }
        catch
        {
            await stack.DisposeAsync();
            throw;
        }
    }

    /// <summary><c>docker-compose -p PROJECT ARGUMENTS</c> in the repository's root, with the stack's variables.</summary>
    public async Task<(int ExitCode, string Output)> RunAsync(TimeSpan timeout, params string[] arguments)
    {
        var start = new ProcessStartInfo("docker-compose")
        {
            WorkingDirectory = LocalServices.RepositoryRoot(), RedirectStandardOutput = true, RedirectStandardError = true,
        };
        foreach (var argument in (string[])["-p", Project, "--ansi", "never", .. arguments]) start.ArgumentList.Add(argument);
        foreach (var (key, value) in _variables) start.Environment[key] = value;
        using var process = Process.Start(start)!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            lock (output) throw new TimeoutException($"docker-compose {string.Join(' ', arguments)} did not end in {timeout}:\n{output}");
        }
        process.WaitForExit();
        lock (output) return (process.ExitCode, output.ToString());
    }

    /// <summary>The engine's inspection of a service's (first) container.</summary>
    public async Task<JsonElement> ContainerOfAsync(string service)
    {
        var containers = await Engine.ListAsync("containers", $"com.docker.compose.service={service}");
        var mine = containers.First(c => c.GetProperty("Labels").GetProperty(ProjectLabel).GetString() == Project);
        return await Engine.GetAsync($"containers/{mine.GetProperty("Id").GetString()}/json");
    }

    /// <summary>A service's health as the engine reports it: starting, healthy or unhealthy (or none).</summary>
    public async Task<string> HealthOfAsync(string service)
    {
        var state = (await ContainerOfAsync(service)).GetProperty("State");
        return state.TryGetProperty("Health", out var health) && health.ValueKind == JsonValueKind.Object
            ? health.GetProperty("Status").GetString() ?? "none" : "none";
    }

    /// <summary><c>docker-compose down -v</c>: every container, network and volume of the project removed.</summary>
    public async Task<(int ExitCode, string Output)> DownAsync()
    {
        _down = true;
        return await RunAsync(TimeSpan.FromMinutes(3), "down", "-v", "--remove-orphans");
    }

    public async ValueTask DisposeAsync()
    {
        if (_healthChecks is not null) await _healthChecks.DisposeAsync();
        if (!_down) await DownAsync();
        Engine.Dispose();
    }
}
