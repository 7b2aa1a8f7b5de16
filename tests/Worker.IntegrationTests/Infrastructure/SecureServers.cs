using System.Diagnostics;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Configurations;
using DotNet.Testcontainers.Containers;
using Testcontainers.PostgreSql;

namespace Worker.IntegrationTests.Infrastructure;

/// <summary>
/// A RabbitMQ node and a PostgreSQL cluster with TLS listeners (scripts/local-services.sh start-tls), on a
/// certificate for the name <c>localhost</c> only, signed by a CA the fixture makes with openssl. A second CA, which
/// signed nothing the servers present, stands for one nobody should trust. Connecting by <c>127.0.0.1</c> therefore
/// meets a certificate for another name. The broker asks for a client certificate (mutual TLS). Containers where the
/// tests' other servers are containers (the certificates copied in, owned by the servers' users), local processes
/// from the Debian packages elsewhere.
/// </summary>
public sealed class SecureServers : IAsyncLifetime
{
    readonly string _folder = Directory.CreateTempSubdirectory("worker-tls-").FullName;
    IContainer? _rabbitMq;
    IContainer? _postgres;

    public int AmqpPort { get; } = LocalServices.FreePort(distributionPortFree: true);
    public int AmqpsPort { get; } = LocalServices.FreePort();
    public int PostgresPort { get; } = LocalServices.FreePort();

    public string TrustedCa => Path.Combine(_folder, "tls", "ca.crt");
    public string UntrustedCa => Path.Combine(_folder, "tls", "other-ca.crt");
    public string Folder => _folder;

    /// <summary>The client certificate and key the broker asks for (mutual TLS), signed by the trusted CA.</summary>
    public string ClientCertificate => Path.Combine(_folder, "tls", "client.crt");
    public string ClientKey => Path.Combine(_folder, "tls", "client.key");

    /// <summary>The broker over TLS, by the name its certificate carries.</summary>
    public string Amqps(string host = "localhost", string user = "guest:guest") => $"amqps://{user}@{host}:{AmqpsPort}/";

    /// <summary>The same broker without TLS, for the tests' own publishing and listening.</summary>
    public string Amqp => $"amqp://guest:guest@127.0.0.1:{AmqpPort}/";

    public string Postgres(string host = "localhost", string? rootCertificate = null) =>
        $"Host={host};Port={PostgresPort};Database=worker;Username=postgres;Password=postgres;SSL Mode=VerifyFull;" +
        $"Root Certificate={rootCertificate ?? TrustedCa}";

    public string PlainPostgres => $"Host=127.0.0.1;Port={PostgresPort};Database=worker;Username=postgres;Password=postgres";

    public async Task InitializeAsync()
    {
        var tls = Directory.CreateDirectory(Path.Combine(_folder, "tls")).FullName;
        await OpensslAsync(tls, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Test CA",
            "-keyout", "ca.key", "-out", "ca.crt");
        await OpensslAsync(tls, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Other CA",
            "-keyout", "other-ca.key", "-out", "other-ca.crt");
        await OpensslAsync(tls, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
            "-out", "server.csr");
        await File.WriteAllTextAsync(Path.Combine(tls, "server.ext"),
            "subjectAltName = DNS:localhost\nextendedKeyUsage = serverAuth\nbasicConstraints = CA:FALSE\n");
        await OpensslAsync(tls, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "server.ext", "-out", "server.crt");
        await OpensslAsync(tls, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=worker", "-keyout", "client.key",
            "-out", "client.csr");
        await File.WriteAllTextAsync(Path.Combine(tls, "client.ext"), "extendedKeyUsage = clientAuth\nbasicConstraints = CA:FALSE\n");
        await OpensslAsync(tls, "x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "client.ext", "-out", "client.crt");
        if (await LocalServices.ChosenSourceAsync() == ServerSource.Containers) await StartContainersAsync(tls);
        else await LocalServices.RunScriptAsync("start-tls", _folder, PostgresPort.ToString(), AmqpPort.ToString(), AmqpsPort.ToString());
    }

    // The ids of the servers' users in the official images and in ours (tests/images/).
    const uint ServerUser = 999;

    async Task StartContainersAsync(string tls)
    {
        byte[] Tls(string file) => File.ReadAllBytes(Path.Combine(tls, file));
        _rabbitMq = ServerContainers.RabbitMqNode()
            .WithPortBinding(AmqpPort, 5672).WithPortBinding(AmqpsPort, 5671)
            .WithEnvironment("RABBITMQ_DEFAULT_USER", "guest").WithEnvironment("RABBITMQ_DEFAULT_PASS", "guest")
            .WithResourceMapping(Tls("ca.crt"), FilePath.Of("/etc/rabbitmq/tls/ca.crt"))
            .WithResourceMapping(Tls("server.crt"), FilePath.Of("/etc/rabbitmq/tls/server.crt"))
            .WithResourceMapping(Tls("server.key"), FilePath.Of("/etc/rabbitmq/tls/server.key"), ServerUser, ServerUser, Unix.FileMode600)
            .WithResourceMapping("""
                listeners.ssl.default = 5671
                ssl_options.cacertfile = /etc/rabbitmq/tls/ca.crt
                ssl_options.certfile = /etc/rabbitmq/tls/server.crt
                ssl_options.keyfile = /etc/rabbitmq/tls/server.key
                ssl_options.verify = verify_peer
                ssl_options.fail_if_no_peer_cert = true

                """u8.ToArray(), FilePath.Of("/etc/rabbitmq/conf.d/20-tls.conf"))
            .WithWaitStrategy(Wait.ForUnixContainer().UntilMessageIsLogged("Server startup complete"))
            .Build();
        _postgres = new PostgreSqlBuilder(ServerContainers.PostgresImageName).WithLabel(ServerContainers.RunLabel, ServerContainers.RunId).WithDatabase("worker").WithUsername("postgres")
            .WithPassword("postgres").WithPortBinding(PostgresPort, PostgreSqlBuilder.PostgreSqlPort)
            .WithCreateParameterModifier(ServerContainers.AsServers)
            .WithResourceMapping(Tls("server.crt"), FilePath.Of("/etc/postgresql-tls/server.crt"))
            .WithResourceMapping(Tls("server.key"), FilePath.Of("/etc/postgresql-tls/server.key"), ServerUser, ServerUser, Unix.FileMode600)
            .WithCommand("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "ssl=on",
                "-c", "ssl_cert_file=/etc/postgresql-tls/server.crt", "-c", "ssl_key_file=/etc/postgresql-tls/server.key")
            .Build();
        await Task.WhenAll(_rabbitMq.StartAsync(), _postgres.StartAsync());
        await ServerContainers.ImportDefinitionsAsync(_rabbitMq);
        Console.Error.WriteLine($"[tests] TLS servers in containers: RabbitMQ {_rabbitMq.Name.TrimStart('/')} on 127.0.0.1:{AmqpsPort} " +
            $"(plain {AmqpPort}), PostgreSQL {_postgres.Name.TrimStart('/')} on 127.0.0.1:{PostgresPort}");
    }

    public async Task<string> RabbitMqCtlAsync(params string[] arguments)
    {
        if (_rabbitMq is null) return await LocalServices.RunScriptAsync(["rabbitmqctl", _folder, .. arguments]);
        var result = await _rabbitMq.ExecAsync(["rabbitmqctl", .. arguments]);
        if (result.ExitCode != 0) throw new InvalidOperationException($"rabbitmqctl failed: {result.Stderr}{result.Stdout}");
        return result.Stdout;
    }

    public async Task DisposeAsync()
    {
        if (_rabbitMq is not null) await _rabbitMq.DisposeAsync();
        if (_postgres is not null) await _postgres.DisposeAsync();
        else await LocalServices.RunScriptAsync("stop", _folder);
        if (Environment.GetEnvironmentVariable("WORKER_IT_KEEP") == "1") Console.Error.WriteLine("kept " + _folder);
        else Directory.Delete(_folder, recursive: true);
    }

    static async Task OpensslAsync(string folder, params string[] arguments)
    {
        var start = new ProcessStartInfo("openssl") { WorkingDirectory = folder, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var errors = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0) throw new InvalidOperationException($"openssl {string.Join(' ', arguments)}: {await errors}");
    }
}
