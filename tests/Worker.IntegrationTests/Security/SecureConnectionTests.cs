using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Hosting;
using Microsoft.Extensions.Configuration;
using Publisher.FrontDoor;
using Worker.IntegrationTests.Infrastructure;
using Worker.IntegrationTests.Startup;

namespace Worker.IntegrationTests.Security;

/// <summary>
/// TLS to RabbitMQ and PostgreSQL, verified: certificates the fixture makes with openssl, servers with TLS listeners
/// (the broker's asks for a client certificate), and the worker, the publisher and serve connecting as an operator
/// would set them up (docs/security.md).
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class SecureConnectionTests(WorkerFixture fixture, SecureServers servers) : IClassFixture<SecureServers>
{
    SecureServers Servers { get; } = servers;

    Dictionary<string, string> Settings(string rabbitMq, string postgres, string? caFile = null) => new()
    {
        ["ConnectionStrings__RabbitMq"] = rabbitMq,
        ["ConnectionStrings__Postgres"] = postgres,
        ["RabbitMqTls__CaFile"] = caFile ?? Servers.TrustedCa,
        ["RabbitMqTls__ClientCertificateFile"] = Servers.ClientCertificate,
        ["RabbitMqTls__ClientKeyFile"] = Servers.ClientKey,
        ["Health__Urls"] = "http://127.0.0.1:0",
        ["Startup__WaitForServices"] = "00:00:05",
    };

    [Fact]
    public async Task The_worker_the_publisher_and_serve_work_over_verified_TLS_with_secrets_from_files()
    {
        // The broker's address in a file named by a _FILE variable, the database's in a key-per-file directory.
        var secrets = Directory.CreateDirectory(Path.Combine(Servers.Folder, "secrets")).FullName;
        await File.WriteAllTextAsync(Path.Combine(secrets, "ConnectionStrings__Postgres"), Servers.Postgres() + "\n");
        var rabbitMqFile = Path.Combine(Servers.Folder, "rabbitmq-uri");
        await File.WriteAllTextAsync(rabbitMqFile, Servers.Amqps() + "\n");
        var fromFiles = new Dictionary<string, string>
        {
            ["SECRETS_DIRECTORY"] = secrets,
            ["ConnectionStrings__RabbitMq_FILE"] = rabbitMqFile,
            ["RabbitMqTls__CaFile"] = Servers.TrustedCa,
            ["RabbitMqTls__ClientCertificateFile"] = Servers.ClientCertificate,
            ["RabbitMqTls__ClientKeyFile"] = Servers.ClientKey,
        };

        await using var worker = await WorkerProcess.StartAsync("", "", fromFiles);

        var id = Guid.NewGuid().ToString();
        var (exitCode, output, errors) = await ProgramRun.RunAsync("Publisher.dll",
            ["lead-segment", "update", "--enterprise", "acme", "--id", id, "--code", "TLS", "--wait"], fromFiles);
        // An unknown lead segment: the worker's own 404, which only a command that went through can get.
        Assert.True(exitCode == 1, $"publisher exited {exitCode}:\n{output}\n{errors}");
        Assert.Contains("lead-segment-update-failed: status 404", output);

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["RabbitMqTls:CaFile"] = Servers.TrustedCa,
            ["RabbitMqTls:ClientCertificateFile"] = Servers.ClientCertificate,
            ["RabbitMqTls:ClientKeyFile"] = Servers.ClientKey,
        }).Build();
        var frontDoor = await FrontDoorApp.BuildAsync(["http://127.0.0.1:0"],
            BrokerConnection.From(configuration, development: false, Servers.Amqps()), environment: "Development");
        await frontDoor.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(frontDoor.Urls.First()) };
            using var request = new HttpRequestMessage(HttpMethod.Patch, $"/enterprises/acme/lead-segments/{id}")
            {
                Content = new StringContent("""{"code":"TLS"}""", Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", DemoToken("acme"));
            using var response = await http.SendAsync(request);
            Assert.Equal(404, (int)response.StatusCode);
        }
        finally
        {
            await frontDoor.StopAsync();
            await frontDoor.DisposeAsync();
        }
        Assert.Equal(200, await worker.ReadinessStatusAsync());
    }

    [Fact]
    public async Task Without_the_client_certificate_the_broker_refuses_the_worker_in_one_line()
    {
        var settings = Settings(Servers.Amqps(), Servers.PlainPostgres);
        settings.Remove("RabbitMqTls__ClientCertificateFile");
        settings.Remove("RabbitMqTls__ClientKeyFile");
        // Until the broker's alert is read the handshake may look like a reset connection, which is waited out.
        settings["Startup__WaitForServices"] = "00:00:30";
        var line = await StartupFailureTests.AssertOneLineAsync("Worker.dll", [], settings, StartupFailure.TlsRefused,
            "RabbitMqTls__ClientCertificateFile");
        Assert.Contains("certificate required", line);
    }

    [Fact]
    public async Task A_broker_certificate_for_another_name_ends_the_start_with_76_in_one_line()
    {
        var line = await StartupFailureTests.AssertOneLineAsync("Worker.dll", [],
            Settings(Servers.Amqps(host: "127.0.0.1"), Servers.PlainPostgres), StartupFailure.TlsRefused, "RabbitMqTls__");
        Assert.Contains("name mismatch", line);
    }

    [Fact]
    public async Task A_broker_certificate_from_an_untrusted_CA_ends_the_start_with_76_in_one_line()
    {
        var line = await StartupFailureTests.AssertOneLineAsync("Worker.dll", [],
            Settings(Servers.Amqps(), Servers.PlainPostgres, caFile: Servers.UntrustedCa), StartupFailure.TlsRefused, "RabbitMqTls__");
        Assert.Contains("untrusted chain", line);
    }

    [Fact]
    public async Task The_publisher_refuses_an_untrusted_broker_certificate_in_one_line()
    {
        var line = await StartupFailureTests.AssertOneLineAsync("Publisher.dll",
            ["lead-segment", "update", "--enterprise", "acme", "--id", "1", "--code", "X"],
            Settings(Servers.Amqps(), Servers.PlainPostgres, caFile: Servers.UntrustedCa), StartupFailure.TlsRefused,
            "RabbitMqTls__", program: "publisher");
        Assert.Contains("untrusted chain", line);
        Assert.DoesNotContain("guest:guest", line);
    }

    [Fact]
    public async Task A_database_certificate_for_another_name_ends_the_start_with_76_in_one_line()
    {
        var line = await StartupFailureTests.AssertOneLineAsync("Worker.dll", [],
            Settings(Servers.Amqp, Servers.Postgres(host: "127.0.0.1")), StartupFailure.TlsRefused, "ConnectionStrings__Postgres");
        Assert.Contains("name mismatch", line);
    }

    [Fact]
    public async Task A_database_certificate_from_an_untrusted_CA_ends_the_start_with_76_in_one_line()
    {
        var line = await StartupFailureTests.AssertOneLineAsync("Worker.dll", [],
            Settings(Servers.Amqp, Servers.Postgres(rootCertificate: Servers.UntrustedCa)), StartupFailure.TlsRefused,
            "ConnectionStrings__Postgres");
        Assert.Contains("untrusted chain", line);
    }

    [Fact]
    public async Task A_stock_broker_without_the_consistent_hash_plugin_ends_the_start_naming_the_plugin_or_runs_without_partitions()
    {
        var port = LocalServices.FreePort(distributionPortFree: true);
        await using var stopStock = await StartStockRabbitMqAsync(port);
        var stock = $"amqp://guest:guest@127.0.0.1:{port}/";
        var line = await StartupFailureTests.AssertOneLineAsync("Worker.dll", [], Settings(stock, fixture.Services.Postgres),
            StartupFailure.ServiceUnavailable, "rabbitmq-plugins enable rabbitmq_consistent_hash_exchange");
        Assert.Contains("Messaging__Partitions=0", line);

        await using var worker = await WorkerProcess.StartAsync(stock, fixture.Services.Postgres,
            new Dictionary<string, string> { ["Messaging__Partitions"] = "0" });
        Assert.Equal(200, await worker.ReadinessStatusAsync());
    }

    /// <summary>A node with no plugin enabled, as apt and the official image install it: a container where the tests'
    /// servers are containers, a local node elsewhere.</summary>
    async Task<IAsyncDisposable> StartStockRabbitMqAsync(int port)
    {
        if (fixture.Services.Source == ServerSource.Containers)
        {
            var container = ServerContainers.RabbitMqImageBuilder().WithPortBinding(port, 5672)
                .WithEnvironment("RABBITMQ_DEFAULT_USER", "guest").WithEnvironment("RABBITMQ_DEFAULT_PASS", "guest")
                .WithResourceMapping("[]."u8.ToArray(), DotNet.Testcontainers.Builders.FilePath.Of("/etc/rabbitmq/enabled_plugins"))
                .WithWaitStrategy(DotNet.Testcontainers.Builders.Wait.ForUnixContainer().UntilMessageIsLogged("Server startup complete"))
                .Build();
            await container.StartAsync();
            return container;
        }
        var folder = Directory.CreateDirectory(Path.Combine(Servers.Folder, "stock")).FullName;
        await LocalServices.RunScriptAsync("start-stock-rabbitmq", folder, port.ToString());
        return new Stopping(() => LocalServices.RunScriptAsync("stop-rabbitmq", folder));
    }

    sealed class Stopping(Func<Task> stop) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync() => await stop();
    }

    /// <summary>An HS256 token with the demo key of frontdoor.Development.json, for one enterprise, valid for 5 minutes.</summary>
    static string DemoToken(string enterprise)
    {
        static string Encode(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var header = Encode(JsonSerializer.SerializeToUtf8Bytes(new { alg = "HS256", typ = "JWT" }));
        var payload = Encode(JsonSerializer.SerializeToUtf8Bytes(new
        {
            sub = "tls-test", enterprises = new[] { enterprise }, exp = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeSeconds(),
        }));
        var signature = Encode(HMACSHA256.HashData(Encoding.UTF8.GetBytes(FrontDoor.FrontDoorScenario.DemoKey),
            Encoding.ASCII.GetBytes($"{header}.{payload}")));
        return $"{header}.{payload}.{signature}";
    }
}
