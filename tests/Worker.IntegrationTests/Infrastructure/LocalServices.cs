using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Worker.IntegrationTests.Infrastructure;

/// <summary>
/// A throwaway RabbitMQ node and PostgreSQL cluster on free loopback ports, with their data in a temporary folder
/// that is removed afterwards: what Testcontainers would give, started through scripts/local-services.sh.
/// When ConnectionStrings__RabbitMq and ConnectionStrings__Postgres are set, those servers are used instead.
/// </summary>
public sealed class LocalServices : IAsyncDisposable
{
    readonly string? _folder;

    LocalServices(string rabbitMq, string postgres, string? folder, int amqpPort)
    {
        RabbitMq = rabbitMq;
        Postgres = postgres;
        _folder = folder;
        AmqpPort = amqpPort;
    }

    public string RabbitMq { get; }
    public string Postgres { get; }
    public int AmqpPort { get; }

    /// <summary>True when the servers are our own, so tests may stop and start them.</summary>
    public bool Owned => _folder is not null;

    public static async Task<LocalServices> StartAsync()
    {
        var rabbitMq = Environment.GetEnvironmentVariable("ConnectionStrings__RabbitMq");
        var postgres = Environment.GetEnvironmentVariable("ConnectionStrings__Postgres");
        if (!string.IsNullOrEmpty(rabbitMq) && !string.IsNullOrEmpty(postgres))
        {
            return new LocalServices(rabbitMq, postgres, null, new Uri(rabbitMq).Port);
        }

        var folder = Directory.CreateTempSubdirectory("worker-it-").FullName;
        var pgPort = FreePort();
        var amqpPort = FreePort(distributionPortFree: true);
        await RunScriptAsync("start", folder, pgPort.ToString(), amqpPort.ToString());
        return new LocalServices($"amqp://guest:guest@127.0.0.1:{amqpPort}/",
            $"Host=127.0.0.1;Port={pgPort};Database=worker;Username=postgres;Pooling=true", folder, amqpPort);
    }

    /// <summary>rabbitmqctl against the throwaway node, for diagnostics.</summary>
    public Task<string> RabbitMqCtlAsync(params string[] arguments) => RunScriptAsync(["rabbitmqctl", _folder!, .. arguments]);

    public Task StopRabbitMqAsync() => RunScriptAsync("stop-rabbitmq", _folder!);
    public Task StartRabbitMqAsync() => RunScriptAsync("start-rabbitmq", _folder!);
    public Task StopPostgresAsync() => RunScriptAsync("stop-postgres", _folder!);
    public Task StartPostgresAsync() => RunScriptAsync("start-postgres", _folder!);

    public async ValueTask DisposeAsync()
    {
        if (_folder is null) return;
        await RunScriptAsync("stop", _folder);
        // WORKER_IT_KEEP=1 keeps the servers' data and logs, to read after a failed run.
        if (Environment.GetEnvironmentVariable("WORKER_IT_KEEP") == "1") Console.Error.WriteLine("kept " + _folder);
        else Directory.Delete(_folder, recursive: true);
    }

    static async Task<string> RunScriptAsync(params string[] arguments)
    {
        var script = Path.Combine(RepositoryRoot(), "scripts", "local-services.sh");
        var start = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(script);
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        // Throwaway servers need no durability across a power cut; this keeps the tests fast.
        start.Environment["PG_EXTRA_OPTS"] = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException(
                $"local-services.sh {string.Join(' ', arguments)} failed ({process.ExitCode}):\n{await output}\n{await errors}");
        }
        return await output;
    }

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Worker.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException("Worker.sln not found above " + AppContext.BaseDirectory);
    }

    // RabbitMQ also listens on port + 20000 for Erlang distribution; both must be free.
    public static int FreePort(bool distributionPortFree = false)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            // Below Linux's ephemeral range (32768 and up): a client that keeps reconnecting to a server that is
            // down can otherwise be given the server's own port as its local one, connect to itself, and keep
            // the server from listening again when it restarts.
            var port = Random.Shared.Next(20000, 32700);
            if (IsFree(port) && (!distributionPortFree || IsFree(port + 20000))) return port;
        }
        throw new InvalidOperationException("No free loopback port found");
    }

    static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
