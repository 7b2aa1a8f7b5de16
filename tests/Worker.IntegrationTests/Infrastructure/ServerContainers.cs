using System.Text;
using System.Net.Http;
using System.Net.Sockets;
using DotNet.Testcontainers.Containers;
using Testcontainers.PostgreSql;
using Testcontainers.RabbitMq;

namespace Worker.IntegrationTests.Infrastructure;

/// <summary>
/// RabbitMQ and PostgreSQL as Testcontainers, from the images docker-compose.yml names. Each is bound to a fixed
/// free host port, so that a fault test can stop and start it and find it again at the same address.
/// </summary>
public sealed class ServerContainers : IAsyncDisposable
{
    public const string RabbitMqImage = "rabbitmq:3.13-management";
    public const string PostgresImage = "postgres:16";

    readonly RabbitMqContainer _rabbitMq;
    readonly PostgreSqlContainer _postgres;

    ServerContainers(RabbitMqContainer rabbitMq, PostgreSqlContainer postgres) => (_rabbitMq, _postgres) = (rabbitMq, postgres);

    public string RabbitMq => _rabbitMq.GetConnectionString();
    public string Postgres => _postgres.GetConnectionString() + ";Pooling=true";
    public int AmqpPort { get; private init; }

    static byte[] Deploy(string file) => File.ReadAllBytes(Path.Combine(LocalServices.RepositoryRoot(), "deploy", "rabbitmq", file));

    public static async Task<ServerContainers> StartAsync()
    {
        var amqpPort = LocalServices.FreePort();
        var rabbitMq = new RabbitMqBuilder(RabbitMqImage).WithUsername("guest").WithPassword("guest")
            .WithPortBinding(amqpPort, RabbitMqBuilder.RabbitMqPort)
            // The consistent-hash exchange in front of the partition queues ships with RabbitMQ, switched off.
            .WithResourceMapping(Encoding.UTF8.GetBytes("[rabbitmq_management,rabbitmq_consistent_hash_exchange]."), DotNet.Testcontainers.Builders.FilePath.Of("/etc/rabbitmq/enabled_plugins"))
            // The message size limit and the error queues' bound, as docker-compose.yml mounts them.
            .WithResourceMapping(Deploy("limits.conf"), DotNet.Testcontainers.Builders.FilePath.Of("/etc/rabbitmq/conf.d/10-limits.conf"))
            .WithResourceMapping(Deploy("definitions.conf"), DotNet.Testcontainers.Builders.FilePath.Of("/etc/rabbitmq/conf.d/11-definitions.conf"))
            .WithResourceMapping(Deploy("definitions.json"), DotNet.Testcontainers.Builders.FilePath.Of("/etc/rabbitmq/definitions.json"))
            .Build();
        var postgres = new PostgreSqlBuilder(PostgresImage).WithDatabase("worker").WithUsername("postgres")
            .WithPassword("postgres").WithPortBinding(LocalServices.FreePort(), PostgreSqlBuilder.PostgreSqlPort)
            // Throwaway servers need no durability across a power cut; this keeps the tests fast.
            .WithCommand("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off").Build();
        await Task.WhenAll(rabbitMq.StartAsync(), postgres.StartAsync());
        return new ServerContainers(rabbitMq, postgres) { AmqpPort = amqpPort };
    }

    public Task StopRabbitMqAsync() => _rabbitMq.StopAsync();
    public Task StartRabbitMqAsync() => _rabbitMq.StartAsync();
    public Task StopPostgresAsync() => _postgres.StopAsync();
    public Task StartPostgresAsync() => _postgres.StartAsync();

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

    /// <summary>
    /// Whether a Docker engine answers its ping at DOCKER_HOST (unix:// or tcp://) or at the default socket.
    /// </summary>
    public static async Task<bool> DockerEngineAnswersAsync(string? dockerHost, TimeSpan timeout)
    {
        dockerHost = string.IsNullOrEmpty(dockerHost) ? "unix:///var/run/docker.sock" : dockerHost;
        if (!Uri.TryCreate(dockerHost, UriKind.Absolute, out var endpoint)) return false;
        var handler = new SocketsHttpHandler();
        Uri baseAddress;
        switch (endpoint.Scheme)
        {
            case "unix":
                if (!File.Exists(endpoint.AbsolutePath)) return false;
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
                return false;
        }
        using var client = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = timeout };
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
