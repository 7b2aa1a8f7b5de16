using System.Diagnostics;

namespace Worker.IntegrationTests.Infrastructure;

/// <summary>
/// A RabbitMQ node and a PostgreSQL cluster with TLS listeners (scripts/local-services.sh start-tls), on a
/// certificate for the name <c>localhost</c> only, signed by a CA the fixture makes with openssl. A second CA, which
/// signed nothing the servers present, stands for one nobody should trust. Connecting by <c>127.0.0.1</c> therefore
/// meets a certificate for another name. The broker asks for a client certificate (mutual TLS). Started from the
/// Debian packages wherever the tests run.
/// </summary>
public sealed class SecureServers : IAsyncLifetime
{
    readonly string _folder = Directory.CreateTempSubdirectory("worker-tls-").FullName;

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
        $"Host={host};Port={PostgresPort};Database=worker;Username=postgres;SSL Mode=VerifyFull;" +
        $"Root Certificate={rootCertificate ?? TrustedCa}";

    public string PlainPostgres => $"Host=127.0.0.1;Port={PostgresPort};Database=worker;Username=postgres";

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
        await LocalServices.RunScriptAsync("start-tls", _folder, PostgresPort.ToString(), AmqpPort.ToString(), AmqpsPort.ToString());
    }

    public Task<string> RabbitMqCtlAsync(params string[] arguments) =>
        LocalServices.RunScriptAsync(["rabbitmqctl", _folder, .. arguments]);

    public async Task DisposeAsync()
    {
        await LocalServices.RunScriptAsync("stop", _folder);
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
