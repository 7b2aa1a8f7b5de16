using System.Diagnostics;
using System.Text.Json;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Configurations;
using DotNet.Testcontainers.Containers;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.Deployment;

/// <summary>
/// The worker's image (WORKER_IT_WORKER_IMAGE, which scripts/test.sh builds from src/Worker/Dockerfile) run as a
/// container: its connection strings as files under /run/secrets, one key per file, as compose and Kubernetes mount
/// secrets; on the host's network, so that it reaches the test's servers on 127.0.0.1 and listens there only.
/// </summary>
public sealed class WorkerContainer : IAsyncDisposable
{
    public const string ImageVariable = "WORKER_IT_WORKER_IMAGE";
    readonly IContainer _container;
    readonly string _secrets;
    readonly int _healthPort;

    WorkerContainer(IContainer container, string secrets, int healthPort) =>
        (_container, _secrets, _healthPort) = (container, secrets, healthPort);

    public static string Image => Environment.GetEnvironmentVariable(ImageVariable) is { Length: > 0 } image ? image
        : throw new InvalidOperationException($"{ImageVariable} names no image: scripts/test.sh builds it where containers run");

    public string Id => _container.Id;

    /// <summary>From the container's start to its first 200 on /health/ready.</summary>
    public TimeSpan TimeToReady { get; private set; }

    public static async Task<WorkerContainer> StartAsync(string rabbitMq, string postgres)
    {
        var secrets = Directory.CreateTempSubdirectory("worker-secrets-").FullName;
        var healthPort = LocalServices.FreePort();
        var builder = new ContainerBuilder(Image)
            .WithLabel(ServerContainers.RunLabel, ServerContainers.RunId)
            .WithCreateParameterModifier(parameters => (parameters.HostConfig ??= new()).NetworkMode = "host")
            .WithEnvironment("Health__Urls", $"http://127.0.0.1:{healthPort}");
        foreach (var (key, value) in new[] { ("ConnectionStrings__RabbitMq", rabbitMq), ("ConnectionStrings__Postgres", postgres) })
        {
            var file = Path.Combine(secrets, key);
            await File.WriteAllTextAsync(file, value);
            // Readable by the image's user, as a secret mounted for it is; written by nobody.
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            builder = builder.WithBindMount(file, $"/run/secrets/{key}", AccessMode.ReadOnly);
        }
        var worker = new WorkerContainer(builder.Build(), secrets, healthPort);
        var watch = Stopwatch.StartNew();
        await worker._container.StartAsync();
        await worker.WaitUntilReadyAsync(TimeSpan.FromSeconds(90));
        worker.TimeToReady = watch.Elapsed;
        return worker;
    }

    async Task WaitUntilReadyAsync(TimeSpan timeout)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        for (var watch = Stopwatch.StartNew(); watch.Elapsed < timeout; await Task.Delay(100))
        {
            if (await ExitCodeAsync() is { } exitCode) throw new InvalidOperationException($"The worker's container exited with {exitCode}:\n{await OutputAsync()}");
            try
            {
                using var response = await client.GetAsync($"http://127.0.0.1:{_healthPort}/health/ready");
                if (response.IsSuccessStatusCode) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // Not listening yet.
            }
        }
        throw new TimeoutException($"The worker's container did not become ready:\n{await OutputAsync()}");
    }

    /// <summary>The exit code once the container has stopped, else null.</summary>
    public async Task<int?> ExitCodeAsync()
    {
        using var engine = ContainerEngine.Connect();
        var state = (await engine.GetAsync($"containers/{_container.Id}/json")).GetProperty("State");
        return state.GetProperty("Running").GetBoolean() ? null : state.GetProperty("ExitCode").GetInt32();
    }

    /// <summary>Everything the worker wrote, standard output and error.</summary>
    public async Task<string> OutputAsync()
    {
        var (stdout, stderr) = await _container.GetLogsAsync(timestampsEnabled: false);
        return stdout + stderr;
    }

    public Task<ExecResult> ExecAsync(params string[] command) => _container.ExecAsync(command);

    /// <summary><c>docker stop -t GRACE</c>; returns how long the container took to stop.</summary>
    public async Task<TimeSpan> StopAsync(TimeSpan grace)
    {
        using var engine = ContainerEngine.Connect();
        var watch = Stopwatch.StartNew();
        await engine.StopAsync(_container.Id, grace);
        return watch.Elapsed;
    }

    /// <summary>How many commands this worker has answered, by its <c>/metrics</c>.</summary>
    public async Task<long> CommandsAnsweredAsync()
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        return WorkerProcess.CommandsAnswered(await client.GetStringAsync($"http://127.0.0.1:{_healthPort}/metrics"));
    }

    public async ValueTask DisposeAsync()
    {
        await _container.DisposeAsync();
        Directory.Delete(_secrets, recursive: true);
    }
}
