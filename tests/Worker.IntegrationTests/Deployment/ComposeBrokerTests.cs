using DotNet.Testcontainers.Builders;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Worker.IntegrationTests.Infrastructure;

namespace Worker.IntegrationTests.Deployment;

/// <summary>
/// The broker as docker-compose.yml configures it: its plugins, limits and definitions loaded at boot from the
/// compose secret. A node that loads definitions at boot creates no default user, so the user the worker's compose
/// secret names must be in those definitions, with the password that secret holds. Run in a container where the
/// tests' servers are containers, as a local node elsewhere.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class ComposeBrokerTests(WorkerFixture fixture)
{
    static string DeployFile(params string[] path) => Path.Combine([LocalServices.RepositoryRoot(), "deploy", .. path]);

    [Fact]
    public async Task The_compose_broker_lets_the_worker_in_with_its_secret_keeps_guest_out_and_bounds_the_error_queues()
    {
        // The worker's and the publisher's compose secrets: the user and password they log in with.
        var secret = new Uri(File.ReadAllText(DeployFile("secrets", "worker-rabbitmq")).Trim());
        Assert.Equal(secret.UserInfo, new Uri(File.ReadAllText(DeployFile("secrets", "publisher-rabbitmq")).Trim()).UserInfo);
        var port = LocalServices.FreePort(distributionPortFree: true);
        await using var broker = await StartAsDeployedAsync(port);

        var factory = new ConnectionFactory { Uri = new UriBuilder(secret) { Host = "127.0.0.1", Port = port }.Uri };
        await using (var connection = await factory.CreateConnectionAsync())
        await using (var channel = await connection.CreateChannelAsync())
        {
            // The worker's rights: it declares its own queues.
            await channel.QueueDeclareAsync("update-lead-segment_error", durable: true, exclusive: false, autoDelete: false);
        }
        var guest = new ConnectionFactory { Uri = new Uri($"amqp://guest:guest@127.0.0.1:{port}/") };
        await Assert.ThrowsAsync<BrokerUnreachableException>(() => guest.CreateConnectionAsync());

        var policies = await broker.CtlAsync("-q", "list_policies", "--formatter", "json");
        Assert.Contains("\"bounded-error-queues\"", policies);
        // The definition is itself JSON, quoted inside the listing.
        Assert.Contains("\"max-length\":100000", policies.Replace("\\\"", "\"").Replace(" ", ""));
    }

    sealed class Broker(Func<string[], Task<string>> ctl, Func<ValueTask> dispose) : IAsyncDisposable
    {
        public Task<string> CtlAsync(params string[] arguments) => ctl(arguments);
        public ValueTask DisposeAsync() => dispose();
    }

    async Task<Broker> StartAsDeployedAsync(int port)
    {
        if (fixture.Services.Source == ServerSource.Containers)
        {
            // The files docker-compose.yml mounts, where it mounts them.
            var container = ServerContainers.RabbitMqImageBuilder()
                .WithPortBinding(port, 5672)
                .WithResourceMapping(File.ReadAllBytes(DeployFile("rabbitmq", "enabled_plugins")), FilePath.Of("/etc/rabbitmq/enabled_plugins"))
                .WithResourceMapping(File.ReadAllBytes(DeployFile("rabbitmq", "limits.conf")), FilePath.Of("/etc/rabbitmq/conf.d/10-limits.conf"))
                .WithResourceMapping(File.ReadAllBytes(DeployFile("rabbitmq", "definitions.conf")), FilePath.Of("/etc/rabbitmq/conf.d/11-definitions.conf"))
                .WithResourceMapping(File.ReadAllBytes(DeployFile("secrets", "rabbitmq-definitions.json")), FilePath.Of("/etc/rabbitmq/definitions.json"))
                .WithWaitStrategy(Wait.ForUnixContainer().UntilMessageIsLogged("Server startup complete"))
                .Build();
            await container.StartAsync();
            return new Broker(async arguments =>
            {
                var result = await container.ExecAsync(["rabbitmqctl", .. arguments]);
                return result.Stdout + result.Stderr;
            }, container.DisposeAsync);
        }
        var folder = Directory.CreateTempSubdirectory("worker-compose-broker-").FullName;
        await LocalServices.RunScriptAsync("start-rabbitmq-with-definitions", folder, port.ToString(),
            DeployFile("secrets", "rabbitmq-definitions.json"));
        return new Broker(arguments => LocalServices.RunScriptAsync(["rabbitmqctl", folder, .. arguments]), async () =>
        {
            await LocalServices.RunScriptAsync("stop-rabbitmq", folder);
            Directory.Delete(folder, recursive: true);
        });
    }
}
