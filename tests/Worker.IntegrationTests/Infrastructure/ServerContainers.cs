using System.Text;
using System.Net.Http;
using System.Net.Sockets;
using Docker.DotNet.Models;
using DotNet.Testcontainers.Configurations;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;
using Testcontainers.PostgreSql;
using Testcontainers.RabbitMq;

namespace Worker.IntegrationTests.Infrastructure;

/// <summary>
/// RabbitMQ and PostgreSQL as Testcontainers. With Docker they run docker-compose.yml's images; where the tests run
/// on podman (scripts/test-containers.sh), the images built from Debian's packages that WORKER_IT_RABBITMQ_IMAGE and
/// WORKER_IT_POSTGRES_IMAGE name. Each is published on a fixed free port of 127.0.0.1 only, so that a fault test can
/// stop, kill and start it and find it again at the same address, and nothing listens on another interface.
/// </summary>
public sealed class ServerContainers : IAsyncDisposable
{
    public const string RabbitMqImage = "rabbitmq:3.13-management";
    public const string PostgresImage = "postgres:16";
    public const string RabbitMqImageVariable = "WORKER_IT_RABBITMQ_IMAGE";
    public const string PostgresImageVariable = "WORKER_IT_POSTGRES_IMAGE";

    /// <summary>
    /// Marks every container and network of this run (WORKER_IT_RUN, set by scripts/test-containers.sh), so that the
    /// script removes what a crashed run left, and only that: another run on the same machine keeps its own.
    /// </summary>
    public const string RunLabel = "worker-tests.run";
    internal static string RunId => Environment.GetEnvironmentVariable("WORKER_IT_RUN") ?? "";

    readonly RabbitMqContainer _rabbitMq;
    readonly PostgreSqlContainer _postgres;

    ServerContainers(RabbitMqContainer rabbitMq, PostgreSqlContainer postgres) => (_rabbitMq, _postgres) = (rabbitMq, postgres);

    public string RabbitMq => _rabbitMq.GetConnectionString();
    public string Postgres => _postgres.GetConnectionString() + ";Pooling=true";
    public int AmqpPort { get; private init; }

    /// <summary>Each server's container, its image and its address, for the run's log.</summary>
    public string Describe() =>
        $"RabbitMQ in container {(_rabbitMq.Name ?? _rabbitMq.Id).TrimStart('/')} ({_rabbitMq.Image.FullName}) on 127.0.0.1:{AmqpPort}; " +
        $"PostgreSQL in container {(_postgres.Name ?? _postgres.Id).TrimStart('/')} ({_postgres.Image.FullName}) on 127.0.0.1:{_postgres.GetMappedPublicPort(PostgreSqlBuilder.PostgreSqlPort)}";

    internal static byte[] Deploy(string file) => File.ReadAllBytes(Path.Combine(LocalServices.RepositoryRoot(), "deploy", "rabbitmq", file));

    internal static string PostgresImageName => ImageFrom(PostgresImageVariable, PostgresImage);

    static string ImageFrom(string variable, string fallback) =>
        Environment.GetEnvironmentVariable(variable) is { Length: > 0 } image ? image : fallback;

    /// <summary>
    /// Publishes every port on 127.0.0.1 only (an engine's default is every interface of the machine), and gives a
    /// stopped server time to shut down: podman takes Testcontainers' unset stop timeout for 0 and kills at once,
    /// which is a crash, not the stop a fault test means (PostgreSQL then loses commits that synchronous_commit=off
    /// had acknowledged, as it would on a real crash with that setting).
    /// </summary>
    /// <summary>A container of the RabbitMQ image, as servers (see <see cref="AsServers"/>), configured by the caller.</summary>
    internal static ContainerBuilder RabbitMqImageBuilder() => new ContainerBuilder(ImageFrom(RabbitMqImageVariable, RabbitMqImage))
        .WithLabel(RunLabel, RunId)
        .WithCreateParameterModifier(AsServers);

    /// <summary>A RabbitMQ node of the cluster, configured as the single node is (see <see cref="StartAsync"/>).</summary>
    internal static ContainerBuilder RabbitMqNode() => RabbitMqImageBuilder()
        .WithResourceMapping(Encoding.UTF8.GetBytes("[rabbitmq_management,rabbitmq_consistent_hash_exchange]."), FilePath.Of("/etc/rabbitmq/enabled_plugins"))
        .WithResourceMapping(Deploy("limits.conf"), FilePath.Of("/etc/rabbitmq/conf.d/10-limits.conf"))
        .WithResourceMapping(Deploy("definitions.json"), FilePath.Of("/etc/rabbitmq/definitions.json"));

    /// <summary>
    /// The error queues' bound, imported once the node runs, as operators do: definitions loaded at boot would replace
    /// the default user (RabbitMQ creates none when it loads definitions at boot).
    /// </summary>
    internal static async Task ImportDefinitionsAsync(IContainer rabbitMq)
    {
        var import = await rabbitMq.ExecAsync(["rabbitmqctl", "-q", "import_definitions", "/etc/rabbitmq/definitions.json"]);
        if (import.ExitCode != 0) throw new InvalidOperationException("import_definitions failed: " + import.Stderr + import.Stdout);
    }

    internal static void AsServers(CreateContainerParameters parameters)
    {
        parameters.StopTimeout = TimeSpan.FromSeconds(30);
        foreach (var bindings in parameters.HostConfig?.PortBindings?.Values ?? [])
        {
            foreach (var binding in bindings) binding.HostIP = "127.0.0.1";
        }
    }

    public static async Task<ServerContainers> StartAsync()
    {
        var amqpPort = LocalServices.FreePort();
        var rabbitMq = new RabbitMqBuilder(ImageFrom(RabbitMqImageVariable, RabbitMqImage)).WithLabel(RunLabel, RunId).WithUsername("guest").WithPassword("guest")
            .WithPortBinding(amqpPort, RabbitMqBuilder.RabbitMqPort)
            .WithCreateParameterModifier(AsServers)
            // The consistent-hash exchange in front of the partition queues ships with RabbitMQ, switched off.
            .WithResourceMapping(Encoding.UTF8.GetBytes("[rabbitmq_management,rabbitmq_consistent_hash_exchange]."), FilePath.Of("/etc/rabbitmq/enabled_plugins"))
            // The message size limit, as docker-compose.yml mounts it, and the error queues' bound (ImportDefinitionsAsync).
            .WithResourceMapping(Deploy("limits.conf"), FilePath.Of("/etc/rabbitmq/conf.d/10-limits.conf"))
            .WithResourceMapping(Deploy("definitions.json"), FilePath.Of("/etc/rabbitmq/definitions.json"))
            .Build();
        var postgres = new PostgreSqlBuilder(PostgresImageName).WithLabel(RunLabel, RunId).WithDatabase("worker").WithUsername("postgres")
            .WithPassword("postgres").WithPortBinding(LocalServices.FreePort(), PostgreSqlBuilder.PostgreSqlPort)
            .WithCreateParameterModifier(AsServers)
            // Throwaway servers need no durability across a power cut; this keeps the tests fast.
            .WithCommand("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off").Build();
        try
        {
            await Task.WhenAll(rabbitMq.StartAsync(), postgres.StartAsync());
            await ImportDefinitionsAsync(rabbitMq);
        }
        catch
        {
            // Nothing removes a half-started pair otherwise: Ryuk, which would, is not run where images cannot be pulled.
            await rabbitMq.DisposeAsync();
            await postgres.DisposeAsync();
            throw;
        }
        return new ServerContainers(rabbitMq, postgres) { AmqpPort = amqpPort };
    }

    public Task StopRabbitMqAsync() => _rabbitMq.StopAsync();
    public Task StartRabbitMqAsync() => _rabbitMq.StartAsync();
    public Task StopPostgresAsync() => _postgres.StopAsync();
    public Task StartPostgresAsync() => _postgres.StartAsync();

    /// <summary>SIGKILL, through the engine's API, as a machine or an OOM killer would end the server.</summary>
    public Task KillRabbitMqAsync() => KillAsync(_rabbitMq);
    public Task KillPostgresAsync() => KillAsync(_postgres);

    internal static async Task KillAsync(IContainer container)
    {
        using var engine = EngineClient(Environment.GetEnvironmentVariable("DOCKER_HOST"), TimeSpan.FromSeconds(30))
            ?? throw new InvalidOperationException("No Docker engine address");
        (await engine.PostAsync($"containers/{container.Id}/kill?signal=KILL", null)).EnsureSuccessStatusCode();
        // Down once the engine says so; Testcontainers' start then starts the same container again.
        while ((await engine.GetStringAsync($"containers/{container.Id}/json")).Contains("\"Running\":true"))
            await Task.Delay(50);
    }

    public async Task<string> RabbitMqCtlAsync(string[] arguments)
    {
        var result = await _rabbitMq.ExecAsync(["rabbitmqctl", .. arguments]);
        return result.Stdout + result.Stderr;
    }

    public async ValueTask DisposeAsync()
    {
        await _rabbitMq.DisposeAsync();
        await _postgres.DisposeAsync();
    }

    /// <summary>An HTTP client for the engine's API at DOCKER_HOST (unix:// or tcp://) or the default socket.</summary>
    internal static HttpClient? EngineClient(string? dockerHost, TimeSpan timeout)
    {
        dockerHost = string.IsNullOrEmpty(dockerHost) ? "unix:///var/run/docker.sock" : dockerHost;
        if (!Uri.TryCreate(dockerHost, UriKind.Absolute, out var endpoint)) return null;
        var handler = new SocketsHttpHandler();
        Uri baseAddress;
        switch (endpoint.Scheme)
        {
            case "unix":
                if (!File.Exists(endpoint.AbsolutePath)) return null;
                handler.ConnectCallback = async (_, cancellationToken) =>
                {
                    var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(endpoint.AbsolutePath), cancellationToken);
                    return new NetworkStream(socket, ownsSocket: true);
                };
                baseAddress = new Uri("http://docker/");
                break;
            case "tcp":
                baseAddress = new Uri($"http://{endpoint.Host}:{endpoint.Port}/");
                break;
            default:
                return null;
        }
        return new HttpClient(handler) { BaseAddress = baseAddress, Timeout = timeout };
    }

    /// <summary>
    /// Whether a Docker engine answers its ping at DOCKER_HOST (unix:// or tcp://) or at the default socket.
    /// </summary>
    public static async Task<bool> DockerEngineAnswersAsync(string? dockerHost, TimeSpan timeout)
    {
        using var client = EngineClient(dockerHost, timeout);
        if (client is null) return false;
        try
        {
            return (await client.GetStringAsync("_ping")).Trim() == "OK";
        }
        catch (Exception e) when (e is HttpRequestException or SocketException or TaskCanceledException or IOException)
        {
            return false;
        }
    }
}
